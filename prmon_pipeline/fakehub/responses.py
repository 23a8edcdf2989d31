"""Response values and GitHub's fixed header set and error bodies.

The static headers are the ones every recorded api.github.com response carries
(the test corpus's ``exchanges/``): content type, media type, CORS exposure, the security
headers, ``Vary``. They are pre-encoded once because they go out on every response.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field

import orjson

JSON_TYPE = b"application/json; charset=utf-8"
DOCS = "https://docs.github.com/rest"
CHECK_RUNS_FOR_REF_DOCS = (
    "https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference"
)

STATIC_HEADERS: list[tuple[bytes, bytes]] = [
    (b"server", b"GitHub.com"),
    (b"x-github-media-type", b"github.v3; format=json"),
    (
        b"access-control-expose-headers",
        b"ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, "
        b"X-RateLimit-Remaining, X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, "
        b"X-OAuth-Scopes, X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, "
        b"X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset",
    ),
    (b"access-control-allow-origin", b"*"),
    (b"strict-transport-security", b"max-age=31536000; includeSubdomains; preload"),
    (b"x-frame-options", b"deny"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"0"),
    (b"referrer-policy", b"origin-when-cross-origin, strict-origin-when-cross-origin"),
    (b"content-security-policy", b"default-src 'none'"),
    (
        b"vary",
        b"Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding, Accept, X-Requested-With",
    ),
]
PRIVATE_CACHE = (b"cache-control", b"private, max-age=60, s-maxage=60")
PUBLIC_CACHE = (b"cache-control", b"public, max-age=60, s-maxage=60")


@dataclass(slots=True)
class Result:
    """What a handler answers before conditional, gzip, rate-limit and fault processing."""

    status: int
    body: bytes
    etag: str | None = None
    content_type: bytes = JSON_TYPE
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    gz: bytes | None = None
    reset: bool = False
    bare: bool = False


def http_date(ts: int) -> bytes:
    """RFC 7231 date for ``Last-Modified``."""
    return email.utils.formatdate(ts, usegmt=True).encode()


def error(status: int, message: str, docs: str = DOCS, **extra: object) -> Result:
    """A ``basic-error`` body: ``{message, documentation_url, status}``."""
    body: dict[str, object] = {"message": message, **extra, "documentation_url": docs}
    body["status"] = str(status)
    return Result(status, orjson.dumps(body))


def not_found() -> Result:
    """GitHub's 404 (also what it answers for resources you may not see)."""
    return error(404, "Not Found")


def no_commit(ref: str) -> Result:
    """GitHub's 422 for check runs of a ref that names no commit (or one garbage-collected).

    Recorded with ``gh api``: ``{"message":"No commit found for SHA: <sha>",
    "documentation_url":"https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference",
    "status":"422"}``.
    """
    return error(422, f"No commit found for SHA: {ref}", CHECK_RUNS_FOR_REF_DOCS)


def validation_failed(resource: str, field_name: str) -> Result:
    """422 for a parameter value GitHub does not accept."""
    return error(
        422,
        "Validation Failed",
        errors=[{"resource": resource, "field": field_name, "code": "invalid"}],
    )


def moved(location: str) -> Result:
    """301 for a renamed repository, body as recorded (github3.py 2021)."""
    body = {
        "message": "Moved Permanently",
        "url": location,
        "documentation_url": "https://docs.github.com/v3/#http-redirects",
    }
    return Result(301, orjson.dumps(body), headers=[(b"location", location.encode())])


def if_none_match(header: bytes | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches: ``*``, comma lists, weak or strong forms."""
    if not header:
        return False
    for raw in header.decode("latin-1").split(","):
        tag = raw.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"')
        if tag == etag:
            return True
    return False
