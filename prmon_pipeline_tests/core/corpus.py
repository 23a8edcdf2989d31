"""Where the recorded GitHub responses live (``../shared/github-corpus`` next to the repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(
    os.environ.get(
        "PRMON_GITHUB_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "github-corpus"
    )
)

requires_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"GitHub corpus not found at {CORPUS}"
)


def corpus_bytes(relative: str) -> bytes:
    return (CORPUS / relative).read_bytes()


def corpus_json(relative: str) -> Any:
    return json.loads(corpus_bytes(relative))


def corpus_files(folder: str) -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / folder).rglob("*.json"))
