"""Cut the part of GitHub's GraphQL schema that fakehub serves out of the official one.

Run it on the ``schema.json`` (introspection) of npm ``@octokit/graphql-schema`` to rewrite
``graphql_schema.json`` beside this module::

    npm pack @octokit/graphql-schema@15.26.1 && tar xzf octokit-graphql-schema-15.26.1.tgz
    python -m prmon_pipeline.fakehub.graphql_schema_subset package/schema.json 15.26.1

The full schema is 5 MB and 1,600 types; fakehub serves check runs only. The subset keeps,
for every served field (:data:`SERVED_FIELDS`), its complete official definition: every
argument, every input type and enum those arguments use, and its return type. So any query over
the served fields that validates on github.com validates here with the same messages, and a
query that asks for a field fakehub does not serve is refused by validation (as on GitHub for
a field that does not exist) instead of resolving to something invented. Interfaces keep the
served implementations only; directives are kept whole.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
OUTPUT = Path(__file__).with_name("graphql_schema.json")
PACKAGE = "@octokit/graphql-schema"

# ``None`` keeps every field of the type (small types whose fields are all served).
SERVED_FIELDS: dict[str, tuple[str, ...] | None] = {
    "Query": ("rateLimit", "repository", "node", "nodes"),
    "RateLimit": None,
    "Node": ("id",),
    "Repository": ("databaseId", "id", "name", "nameWithOwner", "object"),
    "GitObject": ("id", "oid"),
    "Blob": ("id", "oid"),
    "Tag": ("id", "oid"),
    "Tree": ("id", "oid"),
    "Commit": ("id", "oid", "checkSuites"),
    "CheckSuiteConnection": None,
    "CheckSuiteEdge": None,
    "CheckSuite": ("app", "checkRuns", "commit", "conclusion", "databaseId", "id", "status"),
    "App": ("databaseId", "id", "name", "slug"),
    "CheckRunConnection": None,
    "CheckRunEdge": None,
    "CheckRun": (
        "checkSuite",
        "completedAt",
        "conclusion",
        "databaseId",
        "detailsUrl",
        "externalId",
        "id",
        "name",
        "permalink",
        "startedAt",
        "status",
        "summary",
        "text",
        "title",
        "url",
    ),
    "PageInfo": None,
}


def _named(ref: JSON) -> str:
    """The named type under ``NON_NULL``/``LIST`` wrappers."""
    while ref.get("ofType") is not None:
        ref = ref["ofType"]
    return str(ref["name"])


def _inputs_closure(types: dict[str, JSON], roots: set[str]) -> set[str]:
    """Input objects, enums and scalars reachable from argument types (kept whole)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = types[name]["kind"]
        if kind == "INPUT_OBJECT":
            todo.extend(_named(f["type"]) for f in types[name]["inputFields"])
        elif kind not in ("ENUM", "SCALAR"):
            raise ValueError(f"argument type {name} is a {kind}")
    return seen


def subset(schema: JSON) -> JSON:
    """The ``__schema`` introspection object restricted to :data:`SERVED_FIELDS`."""
    types: dict[str, JSON] = {t["name"]: t for t in schema["types"]}
    kept: dict[str, JSON] = {}
    argument_types: set[str] = set()
    for name, wanted in SERVED_FIELDS.items():
        source = types[name]
        fields = [f for f in source["fields"] if wanted is None or f["name"] in wanted]
        missing = set(wanted or ()) - {f["name"] for f in fields}
        if missing:
            raise ValueError(f"{name} has no fields {sorted(missing)}")
        out = dict(source, fields=fields)
        if source.get("interfaces") is not None:
            out["interfaces"] = [i for i in source["interfaces"] if i["name"] in SERVED_FIELDS]
        if source.get("possibleTypes") is not None:
            out["possibleTypes"] = [
                p for p in source["possibleTypes"] if p["name"] in SERVED_FIELDS
            ]
        kept[name] = out
        for field in fields:
            argument_types.update(_named(a["type"]) for a in field["args"])
    for directive in schema["directives"]:
        argument_types.update(_named(a["type"]) for a in directive["args"])
    leaves = _inputs_closure(types, argument_types)
    for name in list(kept):
        for field in kept[name]["fields"]:
            target = _named(field["type"])
            if target in SERVED_FIELDS:
                continue
            if types[target]["kind"] not in ("ENUM", "SCALAR"):
                raise ValueError(f"{name}.{field['name']} returns {target}: add it to the subset")
            leaves.add(target)
    leaves.update(("String", "Boolean"))  # introspection needs them even if nothing else does
    kept.update({name: types[name] for name in leaves})
    return {
        "queryType": {"name": "Query"},
        "mutationType": None,
        "subscriptionType": None,
        "types": [kept[name] for name in sorted(kept)],
        "directives": schema["directives"],
    }


def main(argv: list[str]) -> None:
    """``graphql_schema_subset SCHEMA_JSON NPM_VERSION``: rewrite :data:`OUTPUT`."""
    source, version = Path(argv[0]), argv[1]
    raw = source.read_bytes()
    document = {
        "provenance": {
            "package": PACKAGE,
            "version": version,
            "file": "schema.json",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "generator": "python -m prmon_pipeline.fakehub.graphql_schema_subset",
        },
        "__schema": subset(json.loads(raw)["__schema"]),
    }
    OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
