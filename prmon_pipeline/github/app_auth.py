"""Credentials for GitHub requests: a fixed token, or a GitHub App's installation tokens.

The client asks a :class:`Credentials` for the ``Authorization`` value of every request, by the
owner of the repository the request is about, so one process can read the repositories of
several accounts, each through its own installation.

A GitHub App authenticates in two steps (GitHub docs: "Generating a JSON Web Token (JWT) for a
GitHub App", "Authenticating as a GitHub App installation"):

1. a JWT signed RS256 with the App's private key: ``iss`` the App id (or client id), ``iat``
   60 s in the past against clock drift, ``exp`` at most ten minutes ahead (we use nine);
2. with it, the installation of an account (``GET /repos/{o}/{r}/installation``, or
   ``/orgs/{org}/installation`` then ``/users/{u}/installation``) and an installation token
   (``POST /app/installations/{id}/access_tokens``, 201), valid one hour.

The installation token is what the data requests carry. It is renewed
:data:`REFRESH_MARGIN_SECONDS` before it expires; concurrent requests of one owner wait for one
renewal instead of each minting a token. The private key, JWTs and tokens are never put in a
repr, a log line, an exception or metadata: messages name the App id and the owner only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from prmon_pipeline.core.errors import (
    AppCredentialError,
    ConfigurationError,
    GitHubError,
    TransientGitHubError,
)

JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 540
"""``exp - now``: under GitHub's ten-minute maximum by a minute of clock drift."""
REFRESH_MARGIN_SECONDS = 300.0
"""An installation token is renewed this long before its hour ends."""
AUTH_ATTEMPTS = 3
"""Tries of one App request on transport errors and 5xx answers."""
APP_ID_VARIABLE = "PRMON_GITHUB_APP_ID"
KEY_VARIABLE = "PRMON_GITHUB_APP_PRIVATE_KEY"
KEY_FILE_VARIABLE = "PRMON_GITHUB_APP_PRIVATE_KEY_FILE"
APP_VARIABLES = (APP_ID_VARIABLE, KEY_VARIABLE, KEY_FILE_VARIABLE)
_APP_ID = re.compile(r"^(?:[0-9]+|Iv[0-9A-Za-z.]+)$")
log = logging.getLogger(__name__)

Clock = Callable[[], float]
Send = Callable[[str, str, str], Awaitable[httpx.Response]]
"""``send(method, url, authorization)``: one request of the App itself (the JWT routes)."""


class Credentials(Protocol):
    """Where a request's ``Authorization`` header comes from."""

    async def authorization(self, owner: str | None, repository: str | None) -> str | None:
        """The header value for a request about ``owner`` (and ``repository``, when known)."""
        ...

    def principal(self, owner: str | None) -> str:
        """Whose rate-limit budget a request about ``owner`` spends (a label, not a secret)."""
        ...

    def invalidate(self, owner: str | None) -> bool:
        """Forget the credential GitHub just refused; True when a retry may get a new one."""
        ...


@dataclass(frozen=True)
class TokenCredentials:
    """A personal access token or ``GITHUB_TOKEN`` (or none at all): the same for every owner."""

    token: str | None = field(default=None, repr=False)

    async def authorization(self, owner: str | None, repository: str | None) -> str | None:
        return f"Bearer {self.token}" if self.token else None

    def principal(self, owner: str | None) -> str:
        return "token"

    def invalidate(self, owner: str | None) -> bool:
        return False


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App's id and private key (the key is kept out of ``repr`` and comparisons)."""

    app_id: str
    private_key: RSAPrivateKey = field(repr=False, compare=False)

    def jwt(self, now: float) -> str:
        """A JWT for the App's own endpoints, valid for the next nine minutes."""
        issued = int(now) - JWT_BACKDATE_SECONDS
        claims = {"iat": issued, "exp": int(now) + JWT_LIFETIME_SECONDS, "iss": self.app_id}
        return jwt.encode(claims, self.private_key, algorithm="RS256")


def app_credentials(app_id: str, pem: str, source: str = KEY_VARIABLE) -> AppCredentials:
    """Validate the App id and parse the key; a one-line :class:`ConfigurationError` if bad.

    A PEM pasted into an environment variable often arrives with literal ``\\n``: accepted.
    """
    app_id = app_id.strip()
    if not _APP_ID.match(app_id):
        raise ConfigurationError(
            f"{APP_ID_VARIABLE} must be the App's numeric id (or its client id);"
            f" got {len(app_id)} characters that are neither"  # never echoed: it may be a key
        )
    text = pem.strip()
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigurationError(
            f"{source} is not an unencrypted PEM RSA private key"
            " (use the .pem file generated in the App's settings)"
        )
    return AppCredentials(app_id, key)


def load_app_credentials(env: Mapping[str, str]) -> AppCredentials | None:
    """The App from ``PRMON_GITHUB_APP_ID`` and ``..._PRIVATE_KEY`` (PEM text) or
    ``..._PRIVATE_KEY_FILE`` (a path); None when no App variable is set."""
    app_id = env.get(APP_ID_VARIABLE, "").strip()
    pem = env.get(KEY_VARIABLE, "")
    path = env.get(KEY_FILE_VARIABLE, "").strip()
    if not (app_id or pem.strip() or path):
        return None
    if not app_id:
        raise ConfigurationError(f"{KEY_VARIABLE} or {KEY_FILE_VARIABLE} needs {APP_ID_VARIABLE}")
    if pem.strip() and path:
        raise ConfigurationError(f"set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, not both")
    if not (pem.strip() or path):
        raise ConfigurationError(f"{APP_ID_VARIABLE} needs {KEY_VARIABLE} or {KEY_FILE_VARIABLE}")
    if path:
        return app_credentials(app_id, read_key_file(path), f"{KEY_FILE_VARIABLE} ({path})")
    return app_credentials(app_id, pem)


def read_key_file(path: str) -> str:
    """The PEM text of a key file, or a one-line error naming the path (never the content)."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigurationError(f"{KEY_FILE_VARIABLE}: cannot read {path}: {reason}") from None


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


class AppInstallationCredentials:
    """Installation tokens of one App, one per account, renewed before they expire."""

    def __init__(
        self,
        app: AppCredentials,
        send: Send,
        clock: Clock,
        *,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.app = app
        self._send = send
        self._clock = clock
        self._margin = refresh_margin
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.tokens_minted = 0
        """Installation tokens obtained so far (for tests and the curious)."""

    def __repr__(self) -> str:
        return f"AppInstallationCredentials(app_id={self.app.app_id!r})"

    def principal(self, owner: str | None) -> str:
        return f"app {self.app.app_id} on {(owner or '?').lower()}"

    def invalidate(self, owner: str | None) -> bool:
        installation = self._installations.get((owner or "").lower())
        if installation is None:
            return False
        return self._tokens.pop(installation, None) is not None

    async def authorization(self, owner: str | None, repository: str | None) -> str | None:
        if not owner:
            raise ConfigurationError(
                f"GitHub App {self.app.app_id}: a request names no repository owner, so no"
                " installation can be chosen"
            )
        key = owner.lower()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            installation = self._installations.get(key)
            if installation is None:
                installation = await self._installation(owner, repository)
                self._installations[key] = installation
            token = self._tokens.get(installation)
            if token is None or self._clock() >= token.expires_at - self._margin:
                token = await self._mint(installation, owner)
                self._tokens[installation] = token
        return f"Bearer {token.value}"

    async def _installation(self, owner: str, repository: str | None) -> int:
        """The App's installation on ``owner`` (through the repository when one is known)."""
        if repository:
            paths = [f"repos/{repository}/installation"]
        else:
            paths = [f"orgs/{owner}/installation", f"users/{owner}/installation"]
        for path in paths:
            response = await self._as_app("GET", path)
            if response.status_code == 200:
                return int(self._body(response, path)["id"])
            if response.status_code != 404:
                raise self._refused(response, f"GET /{path}")
        where = f"{repository} (owner {owner})" if repository else owner
        raise AppCredentialError(
            f"GitHub App {self.app.app_id} is not installed on {where}: install it on the"
            " account (Checks, Pull requests, Metadata: read) or remove its repositories",
            http_status=404,
        )

    async def _mint(self, installation: int, owner: str) -> _Token:
        path = f"app/installations/{installation}/access_tokens"
        response = await self._as_app("POST", path)
        if response.status_code != 201:
            if response.status_code == 404:
                self._installations.pop(owner.lower(), None)  # uninstalled since: look again
            raise self._refused(response, f"POST /{path}")
        body = self._body(response, path)
        try:
            value = str(body["token"])
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise GitHubError(
                f"GitHub App {self.app.app_id}: POST /{path} answered without a token and an"
                " expiry",
                http_status=201,
            ) from None
        self.tokens_minted += 1
        log.info(
            "GitHub App %s: installation %s (%s) token obtained, valid until %s",
            self.app.app_id,
            installation,
            owner,
            expires.isoformat(),
        )
        return _Token(value, expires.timestamp())

    async def _as_app(self, method: str, path: str) -> httpx.Response:
        """One request with a fresh JWT, retried on transport errors and 5xx answers."""
        failure = ""
        for _ in range(AUTH_ATTEMPTS):
            authorization = f"Bearer {self.app.jwt(self._clock())}"
            try:
                response = await self._send(method, path, authorization)
            except httpx.TransportError as exc:
                failure = type(exc).__name__
                continue
            if response.status_code < 500:
                return response
            failure = f"HTTP {response.status_code}"
        raise TransientGitHubError(
            f"GitHub App {self.app.app_id}: {method} /{path} failed {AUTH_ATTEMPTS} times"
            f" ({failure})"
        )

    def _body(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise GitHubError(
                f"GitHub App {self.app.app_id}: /{path} answered a body that is not a JSON object",
                http_status=response.status_code,
            )
        return body

    def _refused(self, response: httpx.Response, what: str) -> GitHubError:
        """A one-line error for a refused App request (GitHub's message holds no secret)."""
        status = response.status_code
        try:
            message = str(orjson.loads(response.content).get("message", ""))
        except (orjson.JSONDecodeError, AttributeError):
            message = ""
        app = f"GitHub App {self.app.app_id}"
        if message == "Integration not found":
            text = f"{app} does not exist on this GitHub (check {APP_ID_VARIABLE})"
        elif status == 401:
            text = (
                f"{app}: GitHub refused the App's JWT ({message or 'HTTP 401'}); check that the"
                f" private key belongs to App {self.app.app_id} and that the clock is right"
            )
        else:
            text = f"{app}: {what} answered HTTP {status}" + (f": {message}" if message else "")
        return AppCredentialError(text, http_status=status)
