"""GitHub Apps: App JWTs, installations, installation tokens and the installation budget.

What GitHub does and this module plays (docs: "Generating a JSON Web Token (JWT) for a GitHub
App", "Authenticating as a GitHub App installation", "Rate limits for the REST API"):

* An App signs an RS256 JWT with its private key: ``iss`` is the App id (or its client id),
  ``iat`` and ``exp`` epoch seconds, ``exp`` at most ten minutes ahead. The JWT is accepted only
  by the ``/app/...`` endpoints and the installation lookups; anything else answers 401.
* ``GET /repos/{o}/{r}/installation``, ``/orgs/{org}/installation``, ``/users/{u}/installation``
  find the App's installation on an account (404 when there is none).
* ``POST /app/installations/{id}/access_tokens`` answers 201 with ``{token, expires_at,
  permissions, repository_selection}``; the token lives one hour, then answers 401 "Bad
  credentials", and reaches only the installation's repositories (others are 404, as GitHub
  hides what a caller may not see).
* ``GET /installation/repositories`` (installation token) lists them with Link pagination.
* An installation's hourly budget is 5,000 plus 50 per repository over 20, at most 12,500,
  in each pool (REST core and GraphQL): :meth:`AppAuthority.rate_limit_of`.

Key pairs are never stored here: the configuration holds public keys only.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson

from prmon_pipeline.fakehub.config import HubConfig
from prmon_pipeline.fakehub.responses import Result, error, not_found
from prmon_pipeline.fakehub.routes import Target, link_header
from prmon_pipeline.fakehub.world import World

TOKEN_SECONDS = 3600
JWT_MAX_SECONDS = 600
"""``exp`` may be at most this far ahead of GitHub's clock."""
CLOCK_DRIFT_SECONDS = 60
"""``iat`` may be this far ahead of GitHub's clock (GitHub's advice: issue it 60 s early)."""
BASE_BUDGET = 5000
PER_REPOSITORY = 50
FREE_REPOSITORIES = 20
MAX_BUDGET = 12_500
PERMISSIONS = {"checks": "read", "metadata": "read", "pull_requests": "read"}
INSTALLATION_TOKEN_PREFIX = "ghs_"  # noqa: S105  # GitHub's prefix, not a secret
JWT_ROUTES = frozenset(
    {"repo_installation", "org_installation", "user_installation", "access_tokens"}
)
ROUTES = JWT_ROUTES | {"installation_repositories"}
POST_ROUTES = frozenset({"access_tokens"})
"""Routes answered to ``POST`` (every other fakehub route is GET/HEAD only)."""
NOT_DECODED = "A JSON web token could not be decoded"


@dataclass(frozen=True, slots=True)
class Installation:
    """One installation of an App on an account (an organisation or a user).

    ``repositories`` None means "all repositories" of the account (``repository_selection``
    ``all``), else the selected ``owner/name`` list.
    """

    id: int
    account: str
    repositories: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AppSpec:
    """A configured App: its public key (PEM) and where it is installed."""

    public_key_pem: str
    installations: tuple[Installation, ...] = ()
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    installation: Installation
    expires_at: float


def apps_from_arguments(
    app_id: int | None, public_key_file: str | None, owner: str
) -> dict[int, AppSpec]:
    """``--app-id`` and ``--app-public-key``: one App installed on all of ``owner``'s
    repositories (installation id = App id), or none."""
    if app_id is None and public_key_file is None:
        return {}
    if app_id is None or public_key_file is None:
        raise SystemExit("fakehub: --app-id and --app-public-key go together")
    with open(public_key_file, encoding="utf-8") as pem:
        return {app_id: AppSpec(pem.read(), (Installation(app_id, owner),))}


def installation_budget(repositories: int) -> int:
    """GitHub's hourly budget of an installation with this many repositories, per pool."""
    return min(MAX_BUDGET, BASE_BUDGET + PER_REPOSITORY * max(0, repositories - FREE_REPOSITORIES))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_jwt(token: str) -> bool:
    """A JWT is three base64url parts; GitHub tokens (``ghp_``, ``ghs_``...) have no dots."""
    return token.count(".") == 2


class AppAuthority:
    """The Apps of one hub: verifies JWTs, issues installation tokens, answers their routes."""

    def __init__(self, world: World, config: HubConfig) -> None:
        self.world = world
        self.config = config
        self.tokens: dict[str, IssuedToken] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.config.apps)

    # -- credentials -------------------------------------------------------------------

    def token_valid(self, token: str, otherwise: bool) -> bool:
        """Whether ``token`` authenticates: issued installation tokens until they expire,
        JWTs (verified by the route that accepts them); anything else as without Apps."""
        if token.startswith(INSTALLATION_TOKEN_PREFIX):
            issued = self.tokens.get(token)
            return issued is not None and self.config.clock() < issued.expires_at
        return True if is_jwt(token) else otherwise

    def rate_limit_of(self, token: str | None) -> int | None:
        """The hourly budget of an installation token (None for every other caller)."""
        issued = self.tokens.get(token) if token else None
        if issued is None:
            return None
        return installation_budget(len(self.repositories(issued.installation)))

    # -- routes ------------------------------------------------------------------------

    def intercept(self, target: Target, token: str | None, base: str, pairs: Any) -> Result | None:
        """The answer of an App route, or a refusal of a request its credential may not make;
        None lets the request through to the repository handlers."""
        if not self.enabled:
            return not_found()  # only App routes get here: a hub without Apps has none
        if target.route in JWT_ROUTES:
            return self._as_app(target, token)
        if token is not None and is_jwt(token):
            return error(401, NOT_DECODED)
        issued = self.tokens.get(token) if token else None
        if target.route == "installation_repositories":
            if issued is None:
                return error(401, "Bad credentials")
            return self._repositories_page(issued.installation, base, pairs)
        readable = issued is None or self._may_read(issued.installation, target)
        return None if readable else not_found()

    def _as_app(self, target: Target, token: str | None) -> Result:
        app = self._verify(token)
        if isinstance(app, Result):
            return app
        app_id, spec = app
        if target.route == "access_tokens":
            return self._issue(app_id, spec, target.arg)
        found = self._find(spec, target)
        if found is None:
            return not_found()
        return Result(200, orjson.dumps(self._installation_json(app_id, found)))

    def app_of(self, token: str | None) -> tuple[int, AppSpec] | Result:
        """The App a JWT authenticates (``/app/hook/...`` routes), or the 401 to answer."""
        if not self.enabled:
            return not_found()
        return self._verify(token)

    def _verify(self, token: str | None) -> tuple[int, AppSpec] | Result:
        """The App a JWT authenticates, or GitHub's 401 saying what is wrong with it."""
        if token is None or not is_jwt(token):
            return error(401, NOT_DECODED)
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return error(401, NOT_DECODED)
        found = self._app(claims.get("iss"))
        if found is None:
            return error(401, "Integration not found")
        try:
            jwt.decode(
                token,
                found[1].public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return error(401, NOT_DECODED)
        wrong = self._wrong_times(claims.get("iat"), claims.get("exp"))
        return found if wrong is None else error(401, wrong)

    def _wrong_times(self, iat: object, exp: object) -> str | None:
        """What is wrong with a JWT's ``iat``/``exp`` on the hub's clock (None: nothing)."""
        now = self.config.clock()
        if not isinstance(iat, int) or iat > now + CLOCK_DRIFT_SECONDS:
            return (
                "'Issued at' claim ('iat') must be an Integer representing the time that the"
                " assertion was issued"
            )
        if not isinstance(exp, int) or exp <= now:
            return (
                "'Expiration time' claim ('exp') must be a numeric value representing the future"
                " time at which the assertion expires"
            )
        if exp > now + JWT_MAX_SECONDS:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def _app(self, issuer: object) -> tuple[int, AppSpec] | None:
        for app_id, spec in self.config.apps.items():
            if str(issuer) == str(app_id) or (spec.client_id and issuer == spec.client_id):
                return app_id, spec
        return None

    def _find(self, spec: AppSpec, target: Target) -> Installation | None:
        if target.route == "repo_installation":
            full_name = target.owner_repo or ""
            owner = full_name.split("/")[0].lower()
            for installation in spec.installations:
                if installation.account.lower() == owner and full_name.lower() in {
                    n.lower() for n in self.repositories(installation)
                }:
                    return installation
            return None
        for installation in spec.installations:
            if installation.account.lower() == target.arg.lower():
                return installation
        return None

    def _issue(self, app_id: int, spec: AppSpec, installation_id: str) -> Result:
        installation = next((i for i in spec.installations if str(i.id) == installation_id), None)
        if installation is None:
            return not_found()
        alphabet = string.ascii_letters + string.digits
        token = INSTALLATION_TOKEN_PREFIX + "".join(secrets.choice(alphabet) for _ in range(36))
        expires_at = self.config.clock() + TOKEN_SECONDS
        self.tokens[token] = IssuedToken(installation, expires_at)
        body = {
            "token": token,
            "expires_at": _iso(expires_at),
            "permissions": PERMISSIONS,
            "repository_selection": _selection(installation),
        }
        return Result(201, orjson.dumps(body))

    def _installation_json(self, app_id: int, installation: Installation) -> dict[str, Any]:
        api = self.world.cfg.api_url
        return {
            "id": installation.id,
            "app_id": app_id,
            "account": {"login": installation.account, "type": "Organization"},
            "target_type": "Organization",
            "repository_selection": _selection(installation),
            "access_tokens_url": f"{api}/app/installations/{installation.id}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "permissions": PERMISSIONS,
            "events": [],
        }

    def repositories(self, installation: Installation) -> list[str]:
        """The installation's repositories that exist in the world, by name."""
        names = self.world.repository_names()
        if installation.repositories is None:
            owner = installation.account.lower()
            return [n for n in names if n.split("/")[0].lower() == owner]
        wanted = {n.lower() for n in installation.repositories}
        return [n for n in names if n.lower() in wanted]

    def reader_of(self, token: str | None) -> Callable[[str], bool] | None:
        """For an installation token, whether it may read ``owner/name``; None otherwise."""
        issued = self.tokens.get(token) if token else None
        if issued is None:
            return None
        installation = issued.installation
        return lambda name: self._may_read(installation, Target("repo", owner_repo=name))

    def _may_read(self, installation: Installation, target: Target) -> bool:
        if target.owner_repo is not None:
            name = target.owner_repo
            moved = self.world.moved_repository_id(name)
            repo = self.world.find_repository(name)
            if repo is None and moved is not None:
                repo = self.world.repository_by_id(moved)
            if repo is None:
                return True  # the repository handlers answer the 404 themselves
            name = repo.full_name
        elif target.repo_id is not None:
            repo = self.world.repository_by_id(target.repo_id)
            if repo is None:
                return True
            name = repo.full_name
        else:
            return True
        return name.lower() in {n.lower() for n in self.repositories(installation)}

    def _repositories_page(self, installation: Installation, base: str, pairs: Any) -> Result:
        params = dict(pairs)
        try:
            per_page = min(100, max(1, int(params.get("per_page", 30))))
            page = max(1, int(params.get("page", 1)))
        except ValueError:
            return error(422, "Invalid request")
        names = sorted(self.repositories(installation), key=str.lower)
        last = max(1, -(-len(names) // per_page))
        chosen = names[(page - 1) * per_page : page * per_page]
        body = {
            "total_count": len(names),
            "repository_selection": _selection(installation),
            "repositories": [self.world.repository(name) for name in chosen],
        }
        result = Result(200, orjson.dumps(body))
        link = link_header(base, "/installation/repositories", list(pairs), page, last)
        if link is not None:
            result.headers.append((b"link", link.encode()))
        return result


def _selection(installation: Installation) -> str:
    return "all" if installation.repositories is None else "selected"
