"""GitHub webhook deliveries as pure functions: verify, decode, route.

The receiver calls these on the raw bytes and headers of one ``POST``; nothing here does I/O,
so every rule of issue 16's receiver is unit-tested without a socket:

* ``X-Hub-Signature-256`` is ``"sha256=" + hex(HMAC-SHA256(secret, raw body))`` and is compared in
  constant time on the exact bytes received, before the body is parsed
  (docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
* A body is JSON (``application/json``) or a form whose ``payload`` field is the JSON
  (``application/x-www-form-urlencoded``, the default of hooks made through the REST API)
  (docs.github.com/en/webhooks/using-webhooks/creating-webhooks).
* Header names are matched case-insensitively (captures show ``X-Github-Hook-Id``).

Values that reach a PostgreSQL row are made storable here: text without NUL characters, ids
within ``bigint``; a hostile body can then never fail a whole batch of other deliveries.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

import orjson

SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = b"sha256="
BIGINT_MAX = 2**63 - 1
TEXT_LIMIT = 1000
"""Routing text (event, action, full name) longer than this is not GitHub's: cut, not stored
whole (the raw body keeps everything)."""

APPLIED_EVENTS = frozenset(
    {"pull_request", "check_run", "check_suite", "repository", "installation_repositories"}
)
"""Events the applier handles; any other verified delivery is stored as ``ignored``."""
EVENTS_WITHOUT_REPOSITORY = frozenset({"installation_repositories"})
"""Applied events whose body names repositories in a list, not in ``repository``."""

BodyKind = Literal["json", "form"]
Status = Literal["pending", "ignored", "rejected"]


class SignatureSecret:
    """The webhook secret as bytes; its ``repr`` and ``str`` never show it."""

    __slots__ = ("_key",)

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not key:
            raise ValueError("the webhook secret is empty")
        self._key = key

    def __repr__(self) -> str:
        return "SignatureSecret(<hidden>)"

    __str__ = __repr__

    def signature(self, body: bytes) -> bytes:
        """``sha256=<hex>`` for ``body``, as GitHub puts it in ``X-Hub-Signature-256``."""
        return SIGNATURE_PREFIX + hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()

    def verifies(self, body: bytes, header: bytes | None) -> bool:
        """True when ``header`` is the signature of ``body`` (constant-time comparison)."""
        if not header:
            return False
        return hmac.compare_digest(self.signature(body), header.strip())


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, bytes]:
    """ASGI headers as a dict keyed by lower-case name (the first value of a repeated name)."""
    headers: dict[str, bytes] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1").lower(), value)
    return headers


@dataclass(frozen=True)
class Routing:
    """What the inbox stores beside the raw body: the columns of ``prmon.webhook_deliveries``."""

    guid: str
    hook_id: int
    event: str
    action: str | None
    target_type: str | None
    target_id: int | None
    installation_id: int | None
    repository_github_id: int | None
    repository_full_name: str | None
    content_type: str


@dataclass(frozen=True)
class Classified:
    """A verified delivery, decided: store with ``status`` (and ``reason``), answer ``http``."""

    routing: Routing
    status: Status
    reason: str | None

    @property
    def http_status(self) -> int:
        """202 for what is stored to apply or acknowledged; 400/415 for an unusable body."""
        if self.status != "rejected":
            return 202
        return 415 if self.reason and self.reason.startswith("unsupported content type") else 400


class HeaderError(ValueError):
    """The delivery's headers do not identify it (no GUID, no event, a non-numeric hook id):
    answered 400 and not stored, since without them it cannot be deduplicated."""


def storable_text(value: object) -> str | None:
    """A string PostgreSQL ``text`` accepts (no NUL), cut to ``TEXT_LIMIT``; else None."""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "")[:TEXT_LIMIT]


def storable_id(value: object) -> int | None:
    """A GitHub id that fits ``bigint`` (booleans and floats are not ids); else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -BIGINT_MAX <= value <= BIGINT_MAX else None


def header_text(headers: Mapping[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    text = storable_text(value.decode("latin-1").strip())
    return text or None


def header_id(headers: Mapping[str, bytes], name: str) -> int | None:
    text = header_text(headers, name)
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return storable_id(int(text))


def body_kind(content_type: str) -> BodyKind | None:
    """``json`` or ``form`` from a ``Content-Type`` (parameters such as charset ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    return None


def form_value(value: bytes) -> bytes:
    """A url-encoded form value decoded to bytes (``+`` is a space, ``%XX`` a byte).

    Same result as ``urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))``, about twenty
    times faster on GitHub's form bodies (thousands of ``%22``): the escapes are turned into
    quoted-printable ``=XX`` and decoded by ``binascii`` in C. Quoted-printable gives other
    meanings to ``=``, line breaks and ``=`` before blanks or at the end, so a value holding
    any of those, or whose length shows an escape that was not ``%`` + two hex digits, takes
    the slow exact path instead (never the case for a body GitHub sent).
    """
    spaced = value.replace(b"+", b" ")
    if b"=" not in spaced and b"\r" not in spaced and b"\n" not in spaced:
        quoted = spaced.replace(b"%", b"=")
        if b"= " not in quoted and b"=\t" not in quoted:
            decoded = binascii.a2b_qp(quoted)
            if len(decoded) == len(spaced) - 2 * spaced.count(b"%"):
                return decoded
    return unquote_to_bytes(spaced)


def form_payload(body: bytes) -> bytes:
    """The ``payload`` field of an ``application/x-www-form-urlencoded`` body."""
    if not body.isascii():
        raise ValueError("form body is not url-encoded: non-ASCII bytes")
    for field in body.split(b"&"):
        name, _, value = field.partition(b"=")
        if form_value(name) == b"payload":
            return form_value(value)
    raise ValueError("form body has no payload field")


def decode_body(body: bytes, kind: BodyKind) -> dict[str, Any]:
    """The payload object; ``ValueError`` with a short reason when it is not one."""
    text = form_payload(body) if kind == "form" else body
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {str(exc)[:200]}") from exc
    if not isinstance(payload, dict):
        raise ValueError(f"payload is a JSON {type(payload).__name__}, not an object")
    return payload


def decode_delivery_body(body: bytes, content_type: str) -> dict[str, Any]:
    """A stored delivery's payload object by its ``Content-Type``; ``ValueError`` if unusable."""
    kind = body_kind(content_type)
    if kind is None:
        raise ValueError(f"unsupported content type {content_type[:100]!r}")
    return decode_body(body, kind)


def identify(headers: Mapping[str, bytes]) -> Routing:
    """The header fields of a delivery (body fields empty); :class:`HeaderError` if unusable."""
    guid = header_text(headers, "x-github-delivery")
    if guid is None:
        raise HeaderError("missing X-GitHub-Delivery")
    event = header_text(headers, "x-github-event")
    if event is None:
        raise HeaderError("missing X-GitHub-Event")
    hook_id = 0
    if "x-github-hook-id" in headers:
        parsed = header_id(headers, "x-github-hook-id")
        if parsed is None:
            raise HeaderError("X-GitHub-Hook-ID is not a number")
        hook_id = parsed
    return Routing(
        guid=guid,
        hook_id=hook_id,
        event=event,
        action=None,
        target_type=header_text(headers, "x-github-hook-installation-target-type"),
        target_id=header_id(headers, "x-github-hook-installation-target-id"),
        installation_id=None,
        repository_github_id=None,
        repository_full_name=None,
        content_type=header_text(headers, "content-type") or "",
    )


def with_payload(routing: Routing, payload: Mapping[str, Any]) -> Routing:
    """``routing`` completed from the body: action, installation, repository id and name."""
    repository = payload.get("repository")
    installation = payload.get("installation")
    repo = repository if isinstance(repository, dict) else {}
    inst = installation if isinstance(installation, dict) else {}
    return Routing(
        guid=routing.guid,
        hook_id=routing.hook_id,
        event=routing.event,
        action=storable_text(payload.get("action")),
        target_type=routing.target_type,
        target_id=routing.target_id,
        installation_id=storable_id(inst.get("id")),
        repository_github_id=storable_id(repo.get("id")),
        repository_full_name=storable_text(repo.get("full_name")),
        content_type=routing.content_type,
    )


def classify(headers: Mapping[str, bytes], body: bytes) -> Classified:
    """Decide what to store for a delivery whose signature already verified.

    ``pending``: an event the applier handles, with a repository (unregistered repositories
    stay pending: the applier decides against the registry, in its own transaction).
    ``ignored``: ``ping`` and events the applier does not handle (acknowledged, counted).
    ``rejected``: the body is not usable (unsupported content type, malformed JSON or form, not
    an object, no repository). Raises :class:`HeaderError` when the headers do not identify it.
    """
    routing = identify(headers)
    kind = body_kind(routing.content_type)
    if kind is None:
        reason = f"unsupported content type {routing.content_type[:100]!r}"
        return Classified(routing, "rejected", reason)
    try:
        payload = decode_body(body, kind)
    except ValueError as exc:
        return Classified(routing, "rejected", str(exc))
    routing = with_payload(routing, payload)
    if routing.event == "ping":
        return Classified(routing, "ignored", "ping")
    if routing.event not in APPLIED_EVENTS:
        return Classified(routing, "ignored", f"event {routing.event[:100]!r} is not applied")
    has_repository = routing.repository_github_id is not None and routing.repository_full_name
    if not has_repository and routing.event not in EVENTS_WITHOUT_REPOSITORY:
        return Classified(routing, "rejected", "no repository id and full_name in the payload")
    return Classified(routing, "pending", None)
