"""Cut the webhook payload schemas fakehub emits out of GitHub's official webhook description.

Run it on ``generated/api.github.com.json`` of npm ``@octokit/openapi-webhooks`` to rewrite
``webhook_schemas.json`` beside this module::

    npm pack @octokit/openapi-webhooks@12.1.0 && tar xzf octokit-openapi-webhooks-12.1.0.tgz
    python -m prmon_pipeline.fakehub.webhook_schema_subset \\
        package/generated/api.github.com.json 12.1.0

The full description is 4.8 MB (261 webhooks); the subset keeps, for every webhook fakehub
sends (:data:`EMITTED`), the JSON Schema (2020-12) of its request body and every component
schema it references, unchanged, so ``#/components/schemas/...`` references resolve inside
the subset exactly as in the original file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
OUTPUT = Path(__file__).with_name("webhook_schemas.json")
PACKAGE = "@octokit/openapi-webhooks"
FILE = "generated/api.github.com.json"
PREFIX = "#/components/schemas/"

EMITTED = (
    "ping",
    "pull-request-assigned",
    "pull-request-auto-merge-disabled",
    "pull-request-auto-merge-enabled",
    "pull-request-closed",
    "pull-request-converted-to-draft",
    "pull-request-edited",
    "pull-request-labeled",
    "pull-request-opened",
    "pull-request-ready-for-review",
    "pull-request-reopened",
    "pull-request-review-request-removed",
    "pull-request-review-requested",
    "pull-request-synchronize",
    "pull-request-unassigned",
    "pull-request-unlabeled",
    "check-run-created",
    "check-run-completed",
    "check-suite-completed",
    "repository-archived",
    "repository-created",
    "repository-deleted",
    "repository-renamed",
    "repository-transferred",
    "repository-unarchived",
)
"""Webhook operation keys (``{event}-{action}`` with dashes) fakehub can emit."""


def _refs(node: object, found: set[str]) -> None:
    """Every ``#/components/schemas/NAME`` referenced anywhere below ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            found.add(ref[len(PREFIX) :])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def subset(description: JSON) -> JSON:
    """``{"webhooks": {key: schema ref}, "components": {"schemas": closure}}``."""
    schemas: JSON = description["components"]["schemas"]
    roots: dict[str, str] = {}
    for key in EMITTED:
        body = description["webhooks"][key]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"]
        roots[key] = ref
    kept: JSON = {}
    todo = [ref[len(PREFIX) :] for ref in roots.values()]
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        kept[name] = schemas[name]
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(found - kept.keys())
    return {"webhooks": roots, "components": {"schemas": dict(sorted(kept.items()))}}


def main(argv: list[str]) -> None:
    """``webhook_schema_subset API_GITHUB_COM_JSON NPM_VERSION``: rewrite :data:`OUTPUT`."""
    source, version = Path(argv[0]), argv[1]
    raw = source.read_bytes()
    document = {
        "provenance": {
            "package": PACKAGE,
            "version": version,
            "file": FILE,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "generator": "python -m prmon_pipeline.fakehub.webhook_schema_subset",
        },
        **subset(json.loads(raw)),
    }
    OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
