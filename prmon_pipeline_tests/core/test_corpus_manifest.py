"""The in-repository corpus is exactly what its manifest describes: no file without provenance."""

from __future__ import annotations

import hashlib
import json

from prmon_pipeline_tests.core.corpus import CORPUS, MANIFEST

KNOWN_LICENCES = {"MIT", "BSD-3-Clause", "LGPL-3.0"}


def _manifest_files() -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = json.loads(MANIFEST.read_text())["files"]
    return files


def test_every_data_file_is_listed_with_its_checksum() -> None:
    """A file copied in without provenance, or edited after copying, fails here."""
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.json") if p != MANIFEST}
    listed = _manifest_files()
    assert on_disk == set(listed)
    for name, entry in listed.items():
        assert hashlib.sha256((CORPUS / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_every_recording_names_its_source_commit_and_licence() -> None:
    """Recordings cite repository, path and commit; schemas cite their npm package."""
    for name, entry in _manifest_files().items():
        sources = entry["source"] if isinstance(entry["source"], list) else [entry["source"]]
        for source in sources:
            assert isinstance(source, dict), name
            if name.startswith("schemas/"):
                assert "package" in source, name
            else:
                assert {"repository", "path", "commit"} <= set(source), name
                assert len(str(source["commit"])) == 40, name
        licence = str(entry["licence"])
        assert any(known in licence for known in KNOWN_LICENCES), name
