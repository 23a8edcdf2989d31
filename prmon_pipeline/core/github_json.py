"""GitHub JSON → Arrow: list-pull items, single PRs and check-run envelopes.

Column-at-a-time: orjson decodes a page (C speed), then each column is gathered by one list
comprehension and handed to Arrow as a whole; timestamps are parsed by Arrow's ISO-8601 cast,
state normalisation and NUL removal are Arrow compute kernels. Only labels and assignees need a
small per-row step (sorting names). When a column fails to build, a slow path walks the items
to name the repository, the item and the field — a malformed item is never dropped.

Decisions about what GitHub really sends (``shared/GITHUB-API.md`` §2-§3, corpus README):

* ``head.repo``/``head.user``/``head.label`` may be null (fork or its owner deleted):
  ``head_repo_full_name`` is then NULL.
* ``draft`` is absent in old payloads: treated as ``False``. ``labels``/``assignees`` absent
  (2013 payloads): empty lists; a lone legacy ``assignee`` becomes a one-element list.
* ``state`` becomes ``merged`` when GitHub says ``closed`` and ``merged_at`` is set.
* Check-run ``status``/``conclusion`` must be one of the values the warehouse accepts
  (``schemas.CHECK_RUN_STATUSES``/``CHECK_RUN_CONCLUSIONS``, including ``stale`` and
  ``startup_failure``); anything else is reported, because the load would reject it anyway.
* ``completed_at`` before ``started_at`` is kept as sent (apps supply these timestamps).
* NUL characters (U+0000, JSON ``\\u0000``) are **removed** from every text column: PostgreSQL
  ``text`` cannot store them, and removing them keeps the rest of a title or log summary intact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from prmon_pipeline.core.errors import MalformedResponseError
from prmon_pipeline.core.schemas import (
    CHECK_RUN_CONCLUSIONS,
    CHECK_RUN_SCHEMA,
    CHECK_RUN_STATUSES,
    PULL_REQUEST_SCHEMA,
    TEXT,
    TEXT_LIST,
    TIMESTAMP,
)

JsonInput = bytes | bytearray | memoryview | str | list[Any] | dict[str, Any]
Item = dict[str, Any]

_BUILD_ERRORS = (
    KeyError,
    TypeError,
    AttributeError,
    ValueError,
    OverflowError,
    pa.ArrowInvalid,
    pa.ArrowTypeError,
)


@dataclass(frozen=True)
class _Column:
    """How to gather one output column from decoded items (``TIMESTAMP`` = ISO text first)."""

    name: str
    get: Callable[[Item], Any]
    type: pa.DataType
    required: bool
    allowed: tuple[str, ...] | None = None


def _draft(item: Item) -> Any:
    value = item.get("draft")
    return False if value is None else value


def _user_login(item: Item) -> Any:
    user = item.get("user")
    return None if user is None else user["login"]


def _head_repo(item: Item) -> Any:
    repo = item["head"].get("repo")
    return None if repo is None else repo["full_name"]


def _labels(item: Item) -> list[str]:
    return sorted(label["name"] for label in item.get("labels") or ())


def _assignees(item: Item) -> list[str]:
    assignees = item.get("assignees")
    if assignees is None:  # legacy payloads carry only the singular ``assignee``
        single = item.get("assignee")
        assignees = [single] if single else []
    return sorted(user["login"] for user in assignees)


def _app_slug(item: Item) -> Any:
    app = item.get("app")
    return None if app is None else app.get("slug")


def _output(key: str) -> Callable[[Item], Any]:
    def get(item: Item) -> Any:
        output = item.get("output")
        return None if output is None else output.get(key)

    return get


_PULL_REQUEST_COLUMNS = (
    _Column("number", lambda i: i["number"], pa.int64(), True),
    _Column("github_id", lambda i: i["id"], pa.int64(), True),
    _Column("title", lambda i: i["title"], TEXT, True),
    _Column("body", lambda i: i.get("body"), TEXT, False),
    _Column("state", lambda i: i["state"], TEXT, True, ("open", "closed")),
    _Column("draft", _draft, pa.bool_(), True),
    _Column("author_login", _user_login, TEXT, False),
    _Column("base_ref", lambda i: i["base"]["ref"], TEXT, True),
    _Column("base_sha", lambda i: i["base"]["sha"], TEXT, True),
    _Column("head_ref", lambda i: i["head"]["ref"], TEXT, True),
    _Column("head_sha", lambda i: i["head"]["sha"], TEXT, True),
    _Column("head_repo_full_name", _head_repo, TEXT, False),
    _Column("labels", _labels, TEXT_LIST, True),
    _Column("assignees", _assignees, TEXT_LIST, True),
    _Column("html_url", lambda i: i["html_url"], TEXT, True),
    _Column("created_at", lambda i: i["created_at"], TIMESTAMP, True),
    _Column("updated_at", lambda i: i["updated_at"], TIMESTAMP, True),
    _Column("closed_at", lambda i: i.get("closed_at"), TIMESTAMP, False),
    _Column("merged_at", lambda i: i.get("merged_at"), TIMESTAMP, False),
)

_CHECK_RUN_COLUMNS = (
    _Column("github_id", lambda i: i["id"], pa.int64(), True),
    _Column("head_sha", lambda i: i["head_sha"], TEXT, True),
    _Column("name", lambda i: i["name"], TEXT, True),
    _Column("status", lambda i: i["status"], TEXT, True, CHECK_RUN_STATUSES),
    _Column("conclusion", lambda i: i.get("conclusion"), TEXT, False, CHECK_RUN_CONCLUSIONS),
    _Column("app_slug", _app_slug, TEXT, False),
    _Column("details_url", lambda i: i.get("details_url"), TEXT, False),
    _Column("started_at", lambda i: i.get("started_at"), TIMESTAMP, False),
    _Column("completed_at", lambda i: i.get("completed_at"), TIMESTAMP, False),
    _Column("output_title", _output("title"), TEXT, False),
    _Column("output_summary", _output("summary"), TEXT, False),
)


def decode_json(payload: JsonInput, repository: str, what: str) -> Any:
    """Decode bytes/str with orjson; already-decoded values pass through unchanged."""
    if isinstance(payload, (list, dict)):
        return payload
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"{repository}: {what}: body is not valid JSON ({exc})"
        ) from exc


def parse_pull_requests(items_json: JsonInput, repository: str) -> pa.Table:
    """A list-pulls page (array) or a single-PR object → a ``PULL_REQUEST_SCHEMA`` table."""
    data = decode_json(items_json, repository, "pull requests")
    items = [data] if isinstance(data, dict) else data
    _require_objects(items, repository, "pull request")
    columns = {c.name: _build(c, items, repository, _pr_label) for c in _PULL_REQUEST_COLUMNS}
    merged = pc.and_(
        pc.equal(columns["state"], pa.scalar("closed", TEXT)), pc.is_valid(columns["merged_at"])
    )
    columns["state"] = pc.if_else(merged, pa.scalar("merged", TEXT), columns["state"])
    return pa.Table.from_arrays(
        [columns[name] for name in PULL_REQUEST_SCHEMA.names], schema=PULL_REQUEST_SCHEMA
    )


def parse_check_runs(
    envelope_json: JsonInput, repository: str, pr_numbers: int | Sequence[int]
) -> pa.Table:
    """Check runs → ``CHECK_RUN_SCHEMA``, one row per (pull request number, run).

    Accepts a ``{total_count, check_runs}`` envelope, a list of runs or one run object. The
    runs of a head SHA shared by several PRs are repeated for each of ``pr_numbers`` (a run is
    recorded for every PR whose head it is); no numbers give an empty table.
    """
    data = decode_json(envelope_json, repository, "check runs")
    if isinstance(data, dict):
        if "check_runs" in data:
            data = data["check_runs"]
        elif "id" in data:
            data = [data]
    _require_objects(data, repository, "check run")
    numbers = [pr_numbers] if isinstance(pr_numbers, int) else list(pr_numbers)
    columns = [_build(c, data, repository, _run_label) for c in _CHECK_RUN_COLUMNS]
    runs = pa.Table.from_arrays(columns, schema=CHECK_RUN_SCHEMA.remove(0))
    count = runs.num_rows
    if len(numbers) != 1:
        runs = runs.take(pa.array(list(range(count)) * len(numbers), pa.int64()))
    pr_column = pa.array([n for n in numbers for _ in range(count)], pa.int64())
    table = runs.add_column(0, CHECK_RUN_SCHEMA.field("pr_number"), pr_column)
    return table.cast(CHECK_RUN_SCHEMA)


def _require_objects(items: Any, repository: str, kind: str) -> None:
    if not isinstance(items, list):
        raise MalformedResponseError(
            f"{repository}: expected a JSON array of {kind}s, got {type(items).__name__}"
        )
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedResponseError(
                f"{repository}: {kind} item {index}: expected an object, got {type(item).__name__}"
            )


def _pr_label(index: int, item: Item) -> str:
    number = item.get("number")
    return f"pull request #{number}" if isinstance(number, int) else f"pull request item {index}"


def _run_label(index: int, item: Item) -> str:
    run_id = item.get("id")
    return f"check run {run_id}" if isinstance(run_id, int) else f"check run item {index}"


def _build(
    column: _Column, items: list[Item], repository: str, label: Callable[[int, Item], str]
) -> pa.Array[Any]:
    """Fast path: one comprehension + one Arrow conversion; slow path only to name the culprit."""
    try:
        array = _to_arrow([column.get(item) for item in items], column.type)
    except _BUILD_ERRORS as exc:
        raise _locate(column, items, repository, label) from exc
    if (column.required and array.null_count) or (
        column.allowed is not None and not _all_allowed(array, column.allowed)
    ):
        raise _locate(column, items, repository, label)
    if column.type == TEXT:
        array = pc.replace_substring(array, "\x00", "")
    elif column.type == TEXT_LIST:
        array = _strip_nul_from_lists(array)
    return array


def _to_arrow(values: list[Any], type_: pa.DataType) -> pa.Array[Any]:
    if type_ == TIMESTAMP:
        return pa.array(values, TEXT).cast(TIMESTAMP)
    return pa.array(values, type_)


def _all_allowed(array: pa.Array[Any], allowed: tuple[str, ...]) -> bool:
    in_set = pc.is_in(array, value_set=pa.array(allowed, TEXT), skip_nulls=True)
    return bool(pc.all(pc.or_kleene(in_set, pc.is_null(array)), min_count=0).as_py())


def _strip_nul_from_lists(array: pa.Array[Any]) -> pa.Array[Any]:
    lists = cast("pa.LargeListArray[Any]", array)  # built with TEXT_LIST just above
    values = pc.replace_substring(lists.values, "\x00", "")
    return pa.LargeListArray.from_arrays(lists.offsets, values, type=TEXT_LIST)


def _locate(
    column: _Column, items: list[Item], repository: str, label: Callable[[int, Item], str]
) -> MalformedResponseError:
    """Find the first item whose ``column`` cannot be built and say why."""
    for index, item in enumerate(items):
        try:
            value = column.get(item)
            _to_arrow([value], column.type)
        except _BUILD_ERRORS as exc:
            problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            return _malformed(repository, label(index, item), column.name, problem)
        if value is None and column.required:
            return _malformed(repository, label(index, item), column.name, "is null")
        if value is not None and column.allowed is not None and value not in column.allowed:
            return _malformed(repository, label(index, item), column.name, f"{value!r} unknown")
    return _malformed(repository, "some item", column.name, "cannot be converted")


def _malformed(repository: str, item: str, field: str, problem: str) -> MalformedResponseError:
    return MalformedResponseError(f"{repository}: {item}: field {field!r} {problem}")
