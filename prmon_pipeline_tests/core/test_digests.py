"""Row digests: pinned values, every compared column counts, disguises do not.

The pinned digests are the contract with every warehouse already filled by migration 007 (and
with ``prmon.pull_request_digest`` / ``prmon.check_run_digest``): if one of them changes, every
stored digest is stale, so a change here needs a migration that refills them.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from prmon_pipeline.core.digest_records import decode_digest_records
from prmon_pipeline.core.digests import (
    DIGESTED_CHECK_RUN_COLUMNS,
    DIGESTED_PULL_REQUEST_COLUMNS,
    canonical_text,
    stored_check_runs,
    stored_pull_requests,
    with_check_run_digests,
    with_pull_request_digests,
)
from prmon_pipeline.core.normalise import normalise_pull_requests, to_frame
from prmon_pipeline.core.schemas import (
    CHECK_RUN_DIGEST_SCHEMA,
    CHECK_RUN_KEY,
    CHECK_RUN_SCHEMA,
    PULL_REQUEST_DIGEST_SCHEMA,
    PULL_REQUEST_KEY,
    PULL_REQUEST_SCHEMA,
    STORED_CHECK_RUN_SCHEMA,
    STORED_PULL_REQUEST_SCHEMA,
)
from prmon_pipeline_tests.rows import check_run, check_runs, pull_request, pull_requests

MERGED_AT = datetime(2026, 2, 1, tzinfo=UTC)

PINNED_PULL_REQUESTS = [
    (
        pull_request(1, labels=["été", "bug"], body="", assignees=["zoe"]),
        "10:30000000014:PR 1-4:open5:false7:octocat4:main40:"
        + "b" * 40
        + "9:feature-140:"
        + f"{1:040x}"
        + "12:acme/widgets12:3:bug5:été5:3:zoe38:https://github.com/acme/widgets/"
        "pull/116:176722560000000016:1767225660000000--",
        "bb54a4955f3a8e17cbc09604b77be164",
    ),
    (
        pull_request(
            2,
            state="merged",
            closed_at=MERGED_AT,
            merged_at=MERGED_AT,
            head_repo_full_name=None,
            author_login=None,
        ),
        "10:30000000024:PR 29:body of 26:merged5:false-4:main40:"
        + "b" * 40
        + "9:feature-240:"
        + f"{2:040x}"
        + "-0:0:38:https://github.com/acme/widgets/pull/216:176722560000000016:"
        "176722572000000016:176990400000000016:1769904000000000",
        "a40ffdc507fdbf577c2f7aacdb41e5e6",
    ),
]

PINNED_CHECK_RUNS = [
    (
        check_run(1, 10),
        "40:" + f"{1:040x}" + "10:build (10)9:completed7:success14:github-actions28:"
        "https://example.test/runs/1016:176722560000000016:1767225780000000--",
        "740ebbc7b0e723a710d49225d0b0303b",
    ),
    (
        check_run(
            1,
            11,
            status="in_progress",
            conclusion=None,
            completed_at=None,
            output_title="Tests ✓",
            output_summary="12:34",
        ),
        "40:" + f"{1:040x}" + "10:build (11)11:in_progress-14:github-actions28:"
        "https://example.test/runs/1116:1767225600000000-9:Tests ✓5:12:34",
        "1cb94f7fdcca08059064a4465b75aece",
    ),
]


def _texts(table: pa.Table, schema: pa.Schema, columns: tuple[str, ...]) -> list[str]:
    return to_frame(table).select(canonical_text(schema, columns)).to_series().to_list()


def _hexes(frame: pl.DataFrame) -> list[str]:
    return [bytes(value).hex() for value in frame["digest"].to_list()]


def test_pull_request_canonical_texts_and_digests_are_pinned() -> None:
    table = pull_requests(*(row for row, _, _ in PINNED_PULL_REQUESTS))
    texts = _texts(table, PULL_REQUEST_SCHEMA, DIGESTED_PULL_REQUEST_COLUMNS)
    assert texts == [text for _, text, _ in PINNED_PULL_REQUESTS]
    digests = _hexes(with_pull_request_digests(to_frame(table)))
    assert digests == [pinned for _, _, pinned in PINNED_PULL_REQUESTS]
    # The digest is SHA-256 of the text's UTF-8, cut to 128 bits, nothing else.
    assert digests == [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]


def test_check_run_canonical_texts_and_digests_are_pinned() -> None:
    table = check_runs(*(row for row, _, _ in PINNED_CHECK_RUNS))
    texts = _texts(table, CHECK_RUN_SCHEMA, DIGESTED_CHECK_RUN_COLUMNS)
    assert texts == [text for _, text, _ in PINNED_CHECK_RUNS]
    digests = _hexes(with_check_run_digests(to_frame(table)))
    assert digests == [pinned for _, _, pinned in PINNED_CHECK_RUNS]


def _other_value(name: str, value: Any, arrow_type: pa.DataType) -> list[Any]:
    """Values of the column's type different from ``value``, null among them if allowed."""
    if pa.types.is_timestamp(arrow_type):
        base = value or MERGED_AT
        return [base + timedelta(microseconds=1), base - timedelta(days=400)]
    if pa.types.is_boolean(arrow_type):
        return [not value]
    if pa.types.is_int64(arrow_type):
        return [value + 1, -value]
    if pa.types.is_large_list(arrow_type):
        return [[*value, "x"], ["a:b", "c"], ["a", ":bc"], [""]]
    return [f"{value}x", "", "1:" if value != "1:" else "2:", "ÿ"]


@pytest.mark.parametrize(
    ("schema", "key", "row", "digested"),
    [
        (
            PULL_REQUEST_SCHEMA,
            PULL_REQUEST_KEY,
            pull_request(5, labels=["a", "b"], assignees=["amy"]),
            with_pull_request_digests,
        ),
        (
            CHECK_RUN_SCHEMA,
            CHECK_RUN_KEY,
            check_run(5, 50, output_title="t", output_summary="s"),
            with_check_run_digests,
        ),
    ],
    ids=["pull_requests", "check_runs"],
)
def test_changing_any_compared_column_changes_the_digest(
    schema: pa.Schema, key: tuple[str, ...], row: dict[str, Any], digested: Any
) -> None:
    """The meta-test: every compared column (all but the key), every kind of change, is seen;
    in particular values that would collide under a naive join (``a:b``+``c`` vs ``a``+``:bc``)."""
    variants = [row]
    changed_columns = set()
    for field in schema:
        if field.name in key:
            continue
        candidates = _other_value(field.name, row[field.name], field.type)
        if field.nullable and row[field.name] is not None:
            candidates.append(None)
        if field.name == "body":  # "" means null there: a disguise, not a change
            candidates = [c for c in candidates if c not in ("", None)] + [None]
        for value in candidates:
            variants.append({**row, field.name: value})
            changed_columns.add(field.name)
    assert changed_columns == {name for name in schema.names if name not in key}
    table = pa.Table.from_pylist(variants, schema=schema)
    digests = _hexes(digested(to_frame(table)))
    texts = _texts(table, schema, tuple(n for n in schema.names if n not in key))
    assert len(set(texts)) == len(variants)
    assert len(set(digests)) == len(variants)


def test_the_key_is_not_part_of_the_digest() -> None:
    """Same fields under another key: same digest (the key is how rows are paired, not compared)."""
    runs = check_runs(check_run(1, 10, head_sha="a" * 40), check_run(2, 11, head_sha="a" * 40))
    runs = runs.set_column(
        runs.schema.get_field_index("details_url"),
        "details_url",
        pa.array(["u", "u"], pa.large_string()),
    ).set_column(
        runs.schema.get_field_index("name"), "name", pa.array(["n", "n"], pa.large_string())
    )
    digests = _hexes(with_check_run_digests(to_frame(runs)))
    assert digests[0] == digests[1]


def test_disguises_do_not_change_the_digest() -> None:
    """Label order, ``""`` for a null body, another time zone: equal after ``core.normalise``,
    and equal digests even before it (the load digests rows as it gets them)."""
    canonical = pull_request(7, labels=["a", "b"], body=None)
    disguised = pull_request(7, labels=["b", "a"], body="")
    table = pull_requests(canonical, disguised)
    assert len(set(_hexes(with_pull_request_digests(to_frame(table))))) == 1
    normalised = normalise_pull_requests(pull_requests(disguised))
    assert _hexes(with_pull_request_digests(normalised)) == _hexes(
        with_pull_request_digests(to_frame(pull_requests(canonical)))
    )


def test_stored_rows_carry_the_digest_in_the_stored_schemas() -> None:
    prs = stored_pull_requests(pull_requests(PINNED_PULL_REQUESTS[0][0]))
    runs = stored_check_runs(check_runs(PINNED_CHECK_RUNS[0][0]))
    assert prs.schema == STORED_PULL_REQUEST_SCHEMA
    assert runs.schema == STORED_CHECK_RUN_SCHEMA
    assert prs.column("digest")[0].as_py().hex() == PINNED_PULL_REQUESTS[0][2]
    assert runs.column("digest")[0].as_py().hex() == PINNED_CHECK_RUNS[0][2]


def test_packed_digest_records_unpack_into_the_digest_schemas() -> None:
    """Big-endian keys then the digest, fixed width; the all-zero digest (the warehouse's NULL)
    becomes null, and a value that is not whole records is refused."""
    digest = bytes(range(16))
    packed = struct.pack(">qq", 7, 2**40) + digest + struct.pack(">qq", -1, 3) + bytes(16)
    runs = decode_digest_records([packed[:20], packed[20:]], CHECK_RUN_DIGEST_SCHEMA)
    assert runs.schema == CHECK_RUN_DIGEST_SCHEMA
    assert runs.to_pylist() == [
        {"pr_number": 7, "github_id": 2**40, "digest": digest},
        {"pr_number": -1, "github_id": 3, "digest": None},
    ]
    prs = decode_digest_records([struct.pack(">q", 12) + digest], PULL_REQUEST_DIGEST_SCHEMA)
    assert prs.to_pylist() == [{"number": 12, "digest": digest}]
    assert decode_digest_records([], PULL_REQUEST_DIGEST_SCHEMA).num_rows == 0
    with pytest.raises(ValueError, match="24-byte records"):
        decode_digest_records([packed], PULL_REQUEST_DIGEST_SCHEMA)
