"""JSON → Arrow on every recorded body of the corpus, field by field, and on the odd cases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from prmon_pipeline.core.errors import MalformedResponseError
from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline_tests.core.corpus import (
    corpus_bytes,
    corpus_files,
    corpus_json,
)

REPO = "acme/widgets"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def by_number(table: pa.Table) -> dict[int, dict[str, Any]]:
    return {row["number"]: row for row in table.to_pylist()}


def by_run_id(table: pa.Table) -> dict[int, dict[str, Any]]:
    return {row["github_id"]: row for row in table.to_pylist()}


def check_run_bodies() -> list[tuple[str, Any]]:
    """Every check-run body in the corpus, including the pages inside recorded exchanges."""
    bodies: list[tuple[str, Any]] = []
    for name in corpus_files("checks") + corpus_files("exchanges"):
        data = corpus_json(name)
        if isinstance(data, dict) and "exchanges" in data:
            for index, exchange in enumerate(data["exchanges"]):
                body = exchange["response"].get("body")
                if isinstance(body, dict) and "check_runs" in body:
                    bodies.append((f"{name}#{index}", body))
        elif name.startswith("checks/"):
            bodies.append((name, data))
    return bodies


@pytest.mark.parametrize("name", corpus_files("pulls"))
def test_every_pull_request_file_parses_to_the_schema(name: str) -> None:
    data = corpus_json(name)
    table = parse_pull_requests(corpus_bytes(name), REPO)
    assert table.schema == PULL_REQUEST_SCHEMA
    assert table.num_rows == (1 if isinstance(data, dict) else len(data))
    for row in table.to_pylist():
        assert row["labels"] == sorted(row["labels"])
        assert row["assignees"] == sorted(row["assignees"])
        assert row["state"] in {"open", "closed", "merged"}
        assert (row["state"] == "merged") == (row["merged_at"] is not None)


@pytest.mark.parametrize(("name", "body"), check_run_bodies())
def test_every_check_run_body_parses_to_the_schema(name: str, body: Any) -> None:
    table = parse_check_runs(body, REPO, [7])
    assert table.schema == CHECK_RUN_SCHEMA
    runs = body if isinstance(body, list) else body.get("check_runs", [body])
    assert table.column("github_id").to_pylist() == [run["id"] for run in runs]
    assert set(table.column("pr_number").to_pylist()) <= {7}


def test_merged_pr_with_fork_and_owner_gone() -> None:
    row = by_number(
        parse_pull_requests(
            corpus_bytes("pulls/single/pygithub-pr31-merged-head-repo-null-2025.json"), REPO
        )
    )[31]
    assert row == {
        "number": 31,
        "github_id": 1436215,
        "title": "Title edited by PyGithub",
        "body": row["body"],
        "state": "merged",
        "draft": False,
        "author_login": "jacquev6",
        "base_ref": "topic/RewriteWithGeneratedCode",
        "base_sha": "ed866fc43833802ab553e5ff8581c81bb00dd433",
        "head_ref": "master",
        "head_sha": "8a4f306d4b223682dd19410d4a9150636ebe4206",
        "head_repo_full_name": None,
        "labels": [],
        "assignees": ["jacquev6"],
        "html_url": "https://github.com/PyGithub/PyGithub/pull/31",
        "created_at": utc(2012, 5, 27, 9, 25, 36),
        "updated_at": utc(2018, 6, 25, 12, 54, 43),
        "closed_at": utc(2012, 5, 27, 10, 29, 7),
        "merged_at": utc(2012, 5, 27, 10, 29, 7),
    }
    assert row["body"].startswith("Body edited by PyGithub")


def test_merged_pr_with_labels_and_64_bit_id() -> None:
    row = by_number(
        parse_pull_requests(
            corpus_bytes("pulls/single/pygithub-pr3370-merged-labels-2026.json"), REPO
        )
    )[3370]
    assert row["github_id"] == 2806945628  # > 2**31
    assert row["labels"] == ["dependencies", "github_actions"]
    assert row["author_login"] == "dependabot[bot]"
    assert row["head_repo_full_name"] == "PyGithub/PyGithub"
    assert row["state"] == "merged"


def test_closed_unmerged_prs_stay_closed() -> None:
    for name, number, labels in [
        ("pulls/single/github3py-pr119-closed-unmerged-milestone-2021.json", 119, None),
        ("pulls/single/hub4j-pr264-closed-unmerged-labels-2019.json", 264, None),
    ]:
        row = by_number(parse_pull_requests(corpus_bytes(name), REPO))[number]
        assert row["state"] == "closed"
        assert row["merged_at"] is None
        assert row["closed_at"] is not None
        assert labels is None or row["labels"] == labels
    legacy = by_number(
        parse_pull_requests(
            corpus_bytes("pulls/list/pygithub-ome-pulls-closed-30items-2013-legacy.json"), REPO
        )
    )
    assert legacy[231]["state"] == "closed"
    assert sum(row["state"] == "merged" for row in legacy.values()) == 29


def test_deleted_fork_in_a_list_page() -> None:
    rows = by_number(
        parse_pull_requests(
            corpus_bytes("pulls/list/github3py-betamax-pulls-sort-updated-asc-2021.json"), REPO
        )
    )
    assert rows[182]["head_repo_full_name"] is None
    assert rows[182]["head_ref"] == "patch-1"
    assert rows[182]["head_sha"] == "41b43222fb1132c1863351d10b3fc79889a05408"
    assert rows[188]["head_repo_full_name"] == "marksomething/betamax"


def test_draft_flag_and_its_absence() -> None:
    draft = by_number(
        parse_pull_requests(corpus_bytes("pulls/list/hub4j-pulls-draft-2019.json"), REPO)
    )
    assert draft[321]["draft"] is True
    single = parse_pull_requests(
        corpus_bytes("pulls/single/pygithub-didot-pr2-draft-2025.json"), REPO
    )
    assert single.column("draft").to_pylist() == [True]
    legacy = parse_pull_requests(
        corpus_bytes("pulls/list/pygithub-ome-pulls-closed-30items-2013-legacy.json"), REPO
    )
    assert not any(legacy.column("draft").to_pylist())  # no "draft" key in 2013


def test_open_list_assignees_and_forks() -> None:
    rows = by_number(
        parse_pull_requests(
            corpus_bytes("pulls/list/github3py-repo-pulls-open-11items-2021.json"), REPO
        )
    )
    assert len(rows) == 11
    assert rows[985]["assignees"] == ["omgjlk"]
    assert rows[1033]["head_repo_full_name"] == "viktor-zinchenko/github3.py"
    assert rows[1033]["updated_at"] == utc(2021, 9, 22, 1, 3, 17)
    assert all(row["state"] == "open" for row in rows.values())


def test_curated_check_runs_field_by_field() -> None:
    runs = by_run_id(parse_check_runs(corpus_bytes("checks/curated-check-runs.json"), REPO, 5))
    failure = runs[1039891917]
    assert failure == {
        "pr_number": 5,
        "github_id": 1039891917,
        "head_sha": "10a7135a04f71e6101f8b013aded8a662d08fd1f",
        "name": "test (Python 3.6)",
        "status": "completed",
        "conclusion": "failure",
        "app_slug": "github-actions",
        "details_url": "https://github.com/PyGithub/PyGithub/runs/1039891917",
        "started_at": utc(2020, 8, 28, 4, 20, 27),
        "completed_at": utc(2020, 8, 28, 4, 22, 35),
        "output_title": "test (Python 3.6)",
        "output_summary": "There are 1 failures, 0 warnings, and 0 notices.",
    }
    assert runs[34942661139]["conclusion"] == "success"  # 64-bit id
    inverted = runs[1280450752]
    assert inverted["completed_at"] < inverted["started_at"]  # kept as GitHub sent it
    assert runs[1424883957]["conclusion"] == "neutral"
    assert runs[1424883451]["status"] == "in_progress"
    assert runs[1424883451]["conclusion"] is None
    assert runs[1424883451]["completed_at"] is None
    assert runs[1280914700]["app_slug"] == "test-pygithub"


def test_queued_run_without_app() -> None:
    table = parse_check_runs(corpus_bytes("checks/single/github3py-run-queued-2019.json"), REPO, 1)
    row = table.to_pylist()[0]
    assert row["status"] == "queued"
    assert row["conclusion"] is None
    assert row["completed_at"] is None


def test_four_page_walk_has_eight_distinct_runs() -> None:
    data = corpus_json("checks/list/hub4j-check-runs-per_page2-4pages-2020.json")
    tables = [parse_check_runs(e["response"]["body"], REPO, 1) for e in data["exchanges"]]
    ids = [i for t in tables for i in t.column("github_id").to_pylist()]
    assert len(ids) == len(set(ids)) == 8
    assert ids == sorted(ids, reverse=True)  # GitHub's observed order: newest first


# --- the odd cases GitHub really sends, built from a recorded item ---------------------------


def pr_item() -> dict[str, Any]:
    items = corpus_json("pulls/curated-pr-list-items.json")
    return copy.deepcopy(items[0])


def run_item() -> dict[str, Any]:
    return copy.deepcopy(corpus_json("checks/curated-check-runs.json")[0])


def test_stale_and_startup_failure_conclusions_are_accepted() -> None:
    stale, startup = run_item(), run_item()
    stale["conclusion"], startup["conclusion"] = "stale", "startup_failure"
    startup["id"] += 1
    table = parse_check_runs({"total_count": 2, "check_runs": [stale, startup]}, REPO, 1)
    assert table.column("conclusion").to_pylist() == ["stale", "startup_failure"]


def test_nul_bytes_are_removed_and_unicode_kept() -> None:
    item = pr_item()
    item["title"] = "caf\u00e9 \u2603 \U0001f680 a\x00b"
    item["body"] = "\x00line\x00"
    item["labels"] = [{"name": "z\x00"}, {"name": "\u00e9t\u00e9"}]
    row = parse_pull_requests(orjson.dumps([item]), REPO).to_pylist()[0]
    assert row["title"] == "caf\u00e9 \u2603 \U0001f680 ab"
    assert row["body"] == "line"
    assert row["labels"] == ["z", "\u00e9t\u00e9"]
    run = run_item()
    run["output"]["summary"] = "log\x00tail"
    assert parse_check_runs([run], REPO, 1).column("output_summary").to_pylist() == ["logtail"]


def test_missing_optional_keys_and_null_head_user() -> None:
    item = pr_item()
    for key in ("draft", "auto_merge", "labels", "assignees", "body"):
        item.pop(key, None)
    item["head"].update(repo=None, user=None, label=None)
    item["user"] = None
    row = parse_pull_requests([item], REPO).to_pylist()[0]
    assert row["draft"] is False
    assert row["labels"] == [] and row["assignees"] == []
    assert row["body"] is None and row["author_login"] is None
    assert row["head_repo_full_name"] is None


def test_labels_and_assignees_are_sorted() -> None:
    item = pr_item()
    item["labels"] = [{"name": n} for n in ("bug", "Area", "zeta", "alpha")]
    item["assignees"] = [{"login": n} for n in ("zed", "amy")]
    row = parse_pull_requests([item], REPO).to_pylist()[0]
    assert row["labels"] == ["Area", "alpha", "bug", "zeta"]
    assert row["assignees"] == ["amy", "zed"]


def test_shared_head_sha_gives_one_row_per_pr() -> None:
    table = parse_check_runs(
        corpus_bytes("checks/list/pygithub-check-runs-for-ref-4runs-2020.json"), REPO, [3, 9]
    )
    assert table.num_rows == 8
    assert sorted(
        set(
            zip(
                table.column("pr_number").to_pylist(),
                table.column("github_id").to_pylist(),
                strict=True,
            )
        )
    ) == sorted((pr, run) for pr in (3, 9) for run in set(table.column("github_id").to_pylist()))
    assert parse_check_runs([run_item()], REPO, []).num_rows == 0


def test_empty_pages() -> None:
    assert parse_pull_requests(b"[]", REPO) == PULL_REQUEST_SCHEMA.empty_table()
    assert parse_check_runs(b'{"total_count":0,"check_runs":[]}', REPO, 1).num_rows == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda i: i.pop("number"), "'number'"),
        (lambda i: i.update(id="12"), "'github_id'"),
        (lambda i: i.update(updated_at="yesterday"), "'updated_at'"),
        (lambda i: i.update(created_at=None), "'created_at'"),
        (lambda i: i["head"].pop("sha"), "'head_sha'"),
        (lambda i: i.update(state="weird"), "'state'"),
        (lambda i: i.update(labels=[{"color": "fff"}]), "'labels'"),
        (lambda i: i.update(id=2**64), "'github_id'"),
    ],
)
def test_malformed_pr_names_repository_item_and_field(mutate: Any, field: str) -> None:
    good, bad = pr_item(), pr_item()
    bad["number"] = 4242
    mutate(bad)
    with pytest.raises(MalformedResponseError) as caught:
        parse_pull_requests([good, bad], REPO)
    message = str(caught.value)
    assert message.startswith(REPO)
    assert field in message
    assert "#4242" in message or "item 1" in message


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(status="exploded"), "'status'"),
        (lambda r: r.update(conclusion="meh"), "'conclusion'"),
        (lambda r: r.pop("name"), "'name'"),
        (lambda r: r.update(started_at="2020-13-45T00:00:00Z"), "'started_at'"),
    ],
)
def test_malformed_check_run_names_repository_item_and_field(mutate: Any, field: str) -> None:
    bad = run_item()
    bad["id"] = 99
    mutate(bad)
    with pytest.raises(MalformedResponseError, match=rf"^{REPO}: check run 99: field {field}"):
        parse_check_runs([run_item(), bad], REPO, 1)


def test_non_json_and_wrong_shapes_are_errors() -> None:
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        parse_pull_requests(b"[{", REPO)
    with pytest.raises(MalformedResponseError, match="item 0: expected an object"):
        parse_pull_requests(b"[1]", REPO)
    with pytest.raises(MalformedResponseError, match="expected a JSON array"):
        parse_check_runs(b'"x"', REPO, 1)
