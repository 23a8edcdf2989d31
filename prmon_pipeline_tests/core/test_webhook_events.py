"""Deliveries → a poll's tables, with a verdict for each (``core.webhook_events``/``_ordering``)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import orjson
import pyarrow as pa

from prmon_pipeline.core.github_json import parse_check_runs, parse_pull_requests
from prmon_pipeline.core.schemas import CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.core.webhook_events import (
    PARK_WINDOW,
    DeliveryVerdict,
    EventBatch,
    PendingDelivery,
    SuiteHint,
    TargetedPolls,
    decode_deliveries,
)
from prmon_pipeline.core.webhook_ordering import assemble_batch
from prmon_pipeline.core.webhook_settlement import settle_with_stored, settled_suites
from prmon_pipeline_tests.webhook_objects import (
    REPOSITORY,
    T0,
    delivery,
    pr_delivery,
    pr_object,
    run_delivery,
    run_object,
    sha_of,
    stamp,
)

NAME = "acme/widgets"


def batch_of(deliveries: list[PendingDelivery], known: dict[int, str] | None = None) -> EventBatch:
    return assemble_batch(decode_deliveries(deliveries), NAME, known or {}, T0)


def outcomes(batch: EventBatch) -> dict[int, str]:
    return {v.delivery_id: v.outcome for v in batch.verdicts}


def test_every_delivery_gets_exactly_one_verdict() -> None:
    deliveries = [
        pr_delivery(1, pr_object(1, 10)),
        pr_delivery(2, pr_object(1, 10)),
        run_delivery(3, run_object(30, sha_of(1), "queued")),
        delivery(4, "ping", {"zen": "Keep it logically awesome."}),
        delivery(5, "pull_request", b"{not json"),
    ]
    batch = batch_of(deliveries)
    assert sorted(v.delivery_id for v in batch.verdicts) == [1, 2, 3, 4, 5]
    assert outcomes(batch) == {
        1: "applied",
        2: "duplicate",
        3: "applied",
        4: "ignored",
        5: "rejected",
    }
    assert batch.pull_requests.schema == PULL_REQUEST_SCHEMA
    assert batch.check_runs.schema == CHECK_RUN_SCHEMA
    assert batch.check_runs.column("pr_number").to_pylist() == [1]


def test_the_rows_are_the_poll_parsers_rows() -> None:
    pr, run = (
        pr_object(3, 50, labels=[{"name": "b"}, {"name": "a"}]),
        run_object(9, sha_of(3), "completed"),
    )
    batch = batch_of([pr_delivery(1, pr), run_delivery(2, run)])
    assert batch.pull_requests.equals(parse_pull_requests(pr, NAME))
    assert batch.check_runs.equals(parse_check_runs(run, NAME, 3))


def test_a_form_encoded_delivery_reads_as_its_json_twin() -> None:
    payload = {
        "action": "opened",
        "number": 4,
        "pull_request": pr_object(4, 5),
        "repository": REPOSITORY,
    }
    form = urlencode({"payload": orjson.dumps(payload).decode()}).encode()
    as_form = delivery(1, "pull_request", form, content_type="application/x-www-form-urlencoded")
    assert batch_of([as_form]).pull_requests.equals(
        batch_of([pr_delivery(1, payload["pull_request"])]).pull_requests
    )


def test_newest_updated_at_wins_whatever_the_order() -> None:
    older, newer = (
        pr_object(1, 10, title="old"),
        pr_object(1, 20, title="new", state="closed", closed_at=stamp(20)),
    )
    batch = batch_of([pr_delivery(1, newer), pr_delivery(2, older)])
    assert batch.pull_requests.column("title").to_pylist() == ["new"]
    assert outcomes(batch) == {1: "applied", 2: "out_of_order"}


def test_equal_updated_at_with_other_content_is_a_poll_of_that_pr() -> None:
    one, two = pr_object(1, 10, title="one"), pr_object(1, 10, title="two")
    batch = batch_of([pr_delivery(1, one), pr_delivery(2, two), pr_delivery(3, pr_object(2, 5))])
    assert batch.polls == TargetedPolls(pull_requests=frozenset({1}))
    assert batch.pull_requests.column("number").to_pylist() == [2]
    assert outcomes(batch)[1] == outcomes(batch)[2] == "polled"


def test_the_highest_status_wins_and_an_equal_rank_conflict_fetches_the_run() -> None:
    sha = sha_of(1)
    deliveries = [
        run_delivery(1, run_object(7, sha, "completed")),
        run_delivery(2, run_object(7, sha, "queued")),
        run_delivery(3, run_object(8, sha, "completed", conclusion="failure")),
        run_delivery(4, run_object(8, sha, "completed", conclusion="success")),
    ]
    batch = batch_of(deliveries, known={1: sha})
    assert batch.check_runs.column("status").to_pylist() == ["completed"]
    assert batch.check_runs.column("github_id").to_pylist() == [7]
    assert batch.polls == TargetedPolls(check_runs=frozenset({8}))
    assert outcomes(batch) == {1: "applied", 2: "out_of_order", 3: "polled", 4: "polled"}


def test_a_run_attaches_to_every_pr_with_its_head_not_to_its_pull_requests() -> None:
    sha = sha_of(1)  # a fork PR's run: pull_requests is empty, the head says which PRs
    run = run_object(7, sha, "completed", pull_requests=[])
    batch = batch_of(
        [
            pr_delivery(1, pr_object(2, 5, head={"ref": "x", "sha": sha, "repo": None})),
            run_delivery(2, run),
        ],
        known={1: sha, 3: sha_of(3)},
    )
    assert batch.check_runs.column("pr_number").to_pylist() == [1, 2]


def test_a_run_no_pr_points_at_waits_then_is_given_up() -> None:
    run = run_object(7, sha_of(9), "queued")
    fresh = batch_of([run_delivery(1, run, received=T0 - timedelta(minutes=1))])
    stale = batch_of([run_delivery(1, run, received=T0 - PARK_WINDOW - timedelta(seconds=1))])
    assert outcomes(fresh) == {1: "parked"} and fresh.verdicts[0].status == "pending"
    assert outcomes(stale) == {1: "ignored"} and fresh.check_runs.num_rows == 0


def test_record_less_events_and_unreadable_records_become_polls() -> None:
    suite = {"action": "completed", "check_suite": {"id": 1, "head_sha": sha_of(5)}}
    broken_pr = pr_object(6, 1)
    del broken_pr["head"]
    broken_run = run_object(9, sha_of(7), "completed", conclusion="no-such-conclusion")
    batch = batch_of(
        [
            delivery(1, "check_suite", suite),
            delivery(2, "check_suite", {**suite, "action": "requested"}),
            pr_delivery(3, broken_pr),
            run_delivery(4, broken_run),
            delivery(5, "pull_request", {"action": "edited", "number": 11}),
        ]
    )
    assert batch.polls == TargetedPolls(
        pull_requests=frozenset({6, 11}), head_shas=frozenset({sha_of(5), sha_of(7)})
    )
    assert outcomes(batch) == {1: "polled", 2: "ignored", 3: "polled", 4: "polled", 5: "polled"}


def test_bad_input_is_judged_not_raised() -> None:
    deliveries = [
        delivery(1, "pull_request", b"[1, 2]"),
        delivery(2, "pull_request", {"action": "teleported", "pull_request": pr_object(1, 1)}),
        delivery(
            3, "check_run", {"action": "created", "check_run": run_object(1, "../../etc", "queued")}
        ),
        delivery(4, "check_run", {"action": "created", "check_run": "not an object"}),
        delivery(5, "issues", {"action": "opened"}),
        delivery(6, "pull_request", b"\xff\xfe not utf-8"),
        delivery(
            7, "pull_request", b"payload=%7B", content_type="application/x-www-form-urlencoded"
        ),
        delivery(8, "repository", {"action": "renamed", "repository": {"id": "42"}}),
    ]
    assert outcomes(batch_of(deliveries)) == {
        1: "rejected",
        2: "ignored",
        3: "rejected",
        4: "rejected",
        5: "ignored",
        6: "rejected",
        7: "rejected",
        8: "rejected",
    }


def test_hostile_text_is_kept_as_text_and_nul_is_removed() -> None:
    title = "Robert'); DROP TABLE prmon.pull_requests;-- \x00 ${{ secrets.TOKEN }}"
    pr = pr_object(1, 1, title=title, body="\x00\x00", labels=[{"name": "bug\x00"}])
    verdict_action = delivery(2, "pull_request", {"action": "x\x00y", "pull_request": pr})
    batch = batch_of([pr_delivery(1, pr), verdict_action])
    assert batch.pull_requests.column("title").to_pylist() == [title.replace("\x00", "")]
    assert batch.pull_requests.column("labels").to_pylist() == [["bug"]]
    assert outcomes(batch) == {1: "applied", 2: "ignored"}


def test_the_newest_move_wins() -> None:
    renamed = {
        "action": "renamed",
        "repository": {**REPOSITORY, "full_name": "acme/gadgets", "updated_at": stamp(9)},
    }
    older = {
        "action": "renamed",
        "repository": {**REPOSITORY, "full_name": "acme/gizmos", "updated_at": stamp(3)},
    }
    batch = batch_of([delivery(1, "repository", renamed), delivery(2, "repository", older)])
    assert batch.move is not None and batch.move.full_name == "acme/gadgets"
    assert outcomes(batch)[2] == "out_of_order"


def _stored(
    prs: list[dict[str, object]], runs: list[tuple[int, dict[str, object]]]
) -> tuple[pa.Table, pa.Table]:
    pr_table = parse_pull_requests(prs, NAME) if prs else PULL_REQUEST_SCHEMA.empty_table()
    run_tables = [parse_check_runs(run, NAME, number) for number, run in runs]
    run_table = pa.concat_tables(run_tables) if run_tables else CHECK_RUN_SCHEMA.empty_table()
    return pr_table, run_table


def test_settling_against_the_warehouse() -> None:
    sha = sha_of(1)
    stored = _stored(
        [pr_object(1, 20, title="stored"), pr_object(2, 10), pr_object(3, 10, title="three")],
        [(1, run_object(7, sha, "completed")), (1, run_object(8, sha, "in_progress"))],
    )
    batch = batch_of(
        [
            pr_delivery(1, pr_object(1, 10, title="late")),  # older than stored
            pr_delivery(2, pr_object(2, 10)),  # already stored
            pr_delivery(3, pr_object(3, 10, title="other three")),  # same second, other content
            pr_delivery(4, pr_object(4, 1)),  # new
            run_delivery(5, run_object(7, sha, "queued")),  # behind the stored run
            run_delivery(6, run_object(8, sha, "in_progress", name="renamed")),  # same rank, other
        ],
        known={1: sha},
    )
    settled = settle_with_stored(batch, *stored, registered_name=NAME)
    assert outcomes(settled) == {
        1: "out_of_order",
        2: "duplicate",
        3: "polled",
        4: "applied",
        5: "out_of_order",
        6: "polled",
    }
    assert settled.pull_requests.column("number").to_pylist() == [4]
    assert settled.check_runs.num_rows == 0
    assert settled.polls == TargetedPolls(pull_requests=frozenset({3}), check_runs=frozenset({8}))


def test_a_move_to_the_registered_name_is_a_duplicate() -> None:
    moved = {"action": "transferred", "repository": {**REPOSITORY, "full_name": "ACME/widgets"}}
    batch = batch_of([delivery(1, "repository", moved)])
    settled = settle_with_stored(batch, *_stored([], []), registered_name=NAME)
    assert settled.move is None and settled.verdicts == (
        DeliveryVerdict(1, "duplicate", "same name"),
    )


def test_a_run_never_attaches_to_a_pr_that_is_polled_instead_of_loaded() -> None:
    sha = sha_of(4)  # a new PR whose two records tie: it is polled, so its run waits
    one, two = pr_object(4, 10, title="one"), pr_object(4, 10, title="two")
    run = run_object(7, sha, "queued")
    batch = batch_of([pr_delivery(1, one), pr_delivery(2, two), run_delivery(3, run)])
    assert batch.pull_requests.num_rows == 0 and batch.check_runs.num_rows == 0
    assert outcomes(batch)[3] == "parked"


def test_an_unlabeled_delivery_drops_the_label_it_names_even_if_still_listed() -> None:
    pr = pr_object(1, 5, labels=[{"name": "bug"}, {"name": "wip"}], assignees=[{"login": "ann"}])
    unlabeled = {"action": "unlabeled", "label": {"name": "wip"}, "pull_request": pr}
    unassigned = {"action": "unassigned", "assignee": {"login": "ann"}, "pull_request": pr}
    labels = batch_of([delivery(1, "pull_request", unlabeled)]).pull_requests
    people = batch_of([delivery(1, "pull_request", unassigned)]).pull_requests
    assert labels.column("labels").to_pylist() == [["bug"]]
    assert people.column("assignees").to_pylist() == [[]]


def test_a_completed_suite_is_settled_only_by_enough_completed_runs_of_its_app() -> None:
    sha = "a" * 40
    suites = [
        SuiteHint(1, sha, "actions", 3),
        SuiteHint(2, sha, "ci-app", 2),
        SuiteHint(3, sha, "lint", 1),
        SuiteHint(4, sha, "actions", None),  # no count in the payload: poll
    ]
    stored = {(sha, "actions"): (3, True), (sha, "ci-app"): (2, False), (sha, "lint"): (0, True)}
    assert settled_suites(suites, stored) == {1: "check suite's 3 runs already stored completed"}
    assert settled_suites(suites, {}) == {}
