"""GitHub's GraphQL schema (the served subset) as a graphql-core schema, plus parsed documents.

The schema comes from the vendored introspection subset ``graphql_schema.json`` (see
``graphql_schema_subset.py`` for its provenance). Documents are parsed and validated once per
query text (:class:`DocumentCache`).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    build_client_schema,
    parse,
    validate,
)
from graphql.type import assert_valid_schema

SCHEMA_FILE = Path(__file__).with_name("graphql_schema.json")


def provenance() -> dict[str, str]:
    """Package, version and sha256 of the official schema the subset was cut from."""
    data: dict[str, str] = json.loads(SCHEMA_FILE.read_text())["provenance"]
    return data


@functools.cache
def github_schema() -> GraphQLSchema:
    """The served subset, built once per process (the schema is never mutated)."""
    schema = build_client_schema(json.loads(SCHEMA_FILE.read_text()))
    assert_valid_schema(schema)
    return schema


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A parsed query and its validation errors (empty when valid)."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class DocumentCache:
    """Parsed and validated documents by query text, least recently used evicted.

    A client sends the same text for the same batch shape (values travel as variables), so
    a sync parses and validates each shape once; the bound keeps a client that inlines values
    from growing the server without limit. A 50-alias main query's AST takes about 450 KiB, so
    the default 128 entries (``HubConfig.graphql_document_cache_entries``) stay under 60 MB.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.documents: OrderedDict[str, CheckedDocument] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> CheckedDocument:
        """The checked document for ``text``, parsing and validating it on a miss."""
        found = self.documents.get(text)
        if found is not None:
            self.hits += 1
            self.documents.move_to_end(text)
            return found
        self.misses += 1
        found = check_document(text)
        self.documents[text] = found
        if len(self.documents) > self.entries:
            self.documents.popitem(last=False)
        return found


def check_document(text: str) -> CheckedDocument:
    """Parse and validate ``text`` against :func:`github_schema`."""
    try:
        document = parse(text)
    except GraphQLError as exc:
        return CheckedDocument(None, (exc,))
    return CheckedDocument(document, tuple(validate(github_schema(), document)))
