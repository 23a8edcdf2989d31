"""Per-repository step values on disk: one Parquet file (a table) or directory (a changeset).

A single-run backfill of a hundred repositories must not hold every repository's tables in one
step: a step writes each repository's value as soon as it is computed (:class:`SpilledValues`),
and the next step reads them back one repository at a time (:class:`StoredValues`). Both are
read-only mappings by repository key, so a step's code looks the same whether a run covers one
repository or a hundred. The IO manager moves spilled files into its layout; no Dagster here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.repo_key import parse_repo_key

from .changeset_files import read_changeset, write_changeset

Stored = pa.Table | Changeset


def table_file(stem: Path) -> Path:
    """``name.parquet`` beside ``stem`` (not ``with_suffix``: repository names may hold dots)."""
    return stem.parent / f"{stem.name}.parquet"


def write_value(value: Stored, stem: Path) -> None:
    """Write next to the target, then rename, so a crash never leaves half a file."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    remove_value(stem)
    if isinstance(value, Changeset):
        staging = Path(tempfile.mkdtemp(dir=stem.parent, prefix=f".{stem.name}."))
        write_changeset(value, staging)
        staging.rename(stem)
        return
    fd, staging_file = tempfile.mkstemp(dir=stem.parent, prefix=f".{stem.name}.", suffix=".tmp")
    os.close(fd)
    pq.write_table(value, staging_file)
    Path(staging_file).replace(table_file(stem))


def read_value(stem: Path) -> Stored | None:
    """The value stored at ``stem``, or None when there is none."""
    if table_file(stem).is_file():
        return pq.read_table(table_file(stem))
    if stem.is_dir():
        return read_changeset(stem)
    return None


def has_value(stem: Path) -> bool:
    return table_file(stem).is_file() or stem.is_dir()


def remove_value(stem: Path) -> None:
    table_file(stem).unlink(missing_ok=True)
    if stem.is_dir():
        shutil.rmtree(stem)


def move_value(source: Path, target: Path) -> None:
    """Move a stored value (file or directory) to ``target``, replacing what was there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_value(target)
    if table_file(source).is_file():
        shutil.move(table_file(source), table_file(target))
    elif source.is_dir():
        shutil.move(source, target)


def repository_stem(root: Path, key: str) -> Path:
    """Where one repository's value lives under ``root``; the key is validated before use."""
    repo = parse_repo_key(key)
    return root / repo.owner / repo.name


class StoredValues(Mapping[str, Stored]):
    """Values already on disk, by repository key; each is read when it is looked up."""

    def __init__(self, stems: Mapping[str, Path]) -> None:
        self._stems = dict(stems)

    def __getitem__(self, key: str) -> Stored:
        value = read_value(self._stems[key])
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._stems)

    def __len__(self) -> int:
        return len(self._stems)

    def stem(self, key: str) -> Path:
        return self._stems[key]


class SpilledValues(StoredValues):
    """Values a step writes to a private directory as it computes them (``put``)."""

    def __init__(self, directory: Path | None = None) -> None:
        super().__init__({})
        self.directory = directory or Path(tempfile.mkdtemp(prefix="prmon-step-"))

    def put(self, key: str, value: Stored) -> None:
        stem = repository_stem(self.directory, key)
        write_value(value, stem)
        self._stems[key] = stem

    def discard(self) -> None:
        """Remove what is left of the directory (after the values were moved into place)."""
        shutil.rmtree(self.directory, ignore_errors=True)
