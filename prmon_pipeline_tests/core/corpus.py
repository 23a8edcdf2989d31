"""The recorded GitHub responses and JSON schemas the tests read, kept in the repository.

They live in ``prmon_pipeline_tests/data/github/`` (provenance and licences in its
``manifest.json``) so that a fresh clone tests the parsers and fakehub against real recordings
with nothing next to it: a missing file is a failure, never a skip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[1] / "data" / "github"
SCHEMAS = CORPUS / "schemas"
MANIFEST = CORPUS / "manifest.json"


def corpus_bytes(relative: str) -> bytes:
    return (CORPUS / relative).read_bytes()


def corpus_json(relative: str) -> Any:
    return json.loads(corpus_bytes(relative))


def corpus_files(folder: str) -> list[str]:
    """Every JSON file under ``folder``; an empty folder is an error (it would parametrize away)."""
    found = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / folder).rglob("*.json"))
    if not found:
        raise FileNotFoundError(f"no recorded GitHub responses under {CORPUS / folder}")
    return found
