"""End to end on loopback: backfills launched through GraphQL, the change sensor, the UI.

One module-scoped deployment (``conftest.stack``); the tests run in file order: the backfill
syncs every repository, the UI is photographed, then the simulator moves and the change sensor
must ask for exactly the repository that changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from prmon_pipeline_tests.e2e.conftest import BIN, REPOSITORY, ROOT, Stack
from prmon_pipeline_tests.ground_truth import assert_warehouse_matches

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(300)]

SYNC_ASSETS = [
    {"path": ["pull_requests"]},
    {"path": ["check_runs"]},
    {"path": ["changeset"]},
    {"path": ["warehouse_tables"]},
]
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status }
  }
}
"""
RUNS = """
{
  runsOrError {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
SENSOR_DRY_RUN = """
mutation($selector: SensorSelector!) {
  sensorDryRun(selectorData: $selector, cursor: null) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult { error { message } runRequests { tags { key value } } }
    }
    ... on PythonError { message }
  }
}
"""
BACKFILL_DEADLINE_SECONDS = 150


def _launch(stack: Stack, params: dict[str, Any]) -> str:
    result = stack.graphql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id: str = result["backfillId"]
    return backfill_id


def _runs(stack: Stack) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = stack.graphql(RUNS)["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
    return runs


@pytest.fixture(scope="module")
def synced(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Sync every repository: a single-run asset backfill of two repositories launched through
    GraphQL, and a one-run-per-repository job backfill of the third from the CLI.
    """
    first, second, third = stack.names
    single = _launch(stack, {"assetSelection": SYNC_ASSETS, "partitionNames": [first, second]})
    subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "backfill",
            "-w",
            "workspace.yaml",
            "-l",
            "prmon",
            "-j",
            "repository_sync",
            "--partitions",
            third,
            "--noprompt",
        ],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    deadline = time.monotonic() + BACKFILL_DEADLINE_SECONDS
    while True:
        runs = _runs(stack)
        backfills = {run["tags"].get("dagster/backfill") for run in runs}
        finished = all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs)
        if single in backfills and len(backfills) == 2 and finished:
            break
        if time.monotonic() > deadline:
            log = (stack.home.parent / "daemon.log").read_text()[-4000:]
            pytest.fail(f"backfill runs not finished: {runs}\n{log}")
        time.sleep(1)
    status = stack.graphql(BACKFILL_STATUS, id=single)["partitionBackfillOrError"]["status"]
    assert status in {"REQUESTED", "COMPLETED", "COMPLETED_SUCCESS"}, status
    return {
        "single": [r for r in runs if r["tags"]["dagster/backfill"] == single],
        "per_repository": [r for r in runs if r["tags"]["dagster/backfill"] != single],
    }


def test_backfills_from_graphql_and_the_cli_make_the_warehouse_equal_the_simulator(
    stack: Stack, synced: dict[str, list[dict[str, Any]]]
) -> None:
    first, second, third = stack.names
    (single_run,) = synced["single"]
    assert single_run["status"] == "SUCCESS"
    assert single_run["tags"]["dagster/asset_partition_range_start"] == first
    assert single_run["tags"]["dagster/asset_partition_range_end"] == second
    assert [r["tags"]["dagster/partition"] for r in synced["per_repository"]] == [third]
    assert all(r["status"] == "SUCCESS" for r in synced["per_repository"])
    for name in stack.names:
        assert_warehouse_matches(stack.warehouse_url, stack.world, name)


def test_partitions_page_screenshot_shows_the_partition_and_its_metadata(
    stack: Stack, synced: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing = "chromium is not installed: the Partitions page screenshot needs it"
        if os.environ.get("PRMON_REQUIRE_CHROMIUM"):  # CI installs it: a missing one is a failure
            pytest.fail(f"{missing} (PRMON_REQUIRE_CHROMIUM is set)")
        pytest.skip(f"{missing} (apt-get install -y chromium, as .ci/run does)")
    key = stack.names[0]
    page = f"{stack.url}/assets/warehouse_tables?view=partitions&partition={quote(key, safe='')}"
    target = Path(os.environ.get("PRMON_ARTIFACTS_DIR", tmp_path)) / "warehouse_partitions.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    base = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1600,1100",
        "--virtual-time-budget=20000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    subprocess.run(
        [*base, f"--screenshot={target}", page], capture_output=True, timeout=120, check=True
    )
    assert target.is_file() and target.stat().st_size > 10_000
    assert key in dom
    for label in ("prs_new", "warehouse_pull_requests", "sync_run_id"):
        assert label in dom, label


def test_change_sensor_requests_runs_only_for_the_changed_repository(
    stack: Stack, synced: dict[str, list[dict[str, Any]]]
) -> None:
    changed = stack.names[1]
    number = stack.world.pull_requests(changed)[0]["number"]
    stack.world.apply_event(changed, number, "edit")

    result = stack.graphql(
        SENSOR_DRY_RUN, selector={**REPOSITORY, "sensorName": "repository_change_sensor"}
    )["sensorDryRun"]

    assert result["__typename"] == "DryRunInstigationTick", result
    evaluation = result["evaluationResult"]
    assert evaluation["error"] is None, evaluation["error"]
    requested = [
        {tag["key"]: tag["value"] for tag in request["tags"]}
        for request in evaluation["runRequests"]
    ]
    assert [(r["dagster/partition"], r["prmon/trigger"]) for r in requested] == [
        (changed, "pulls changed")
    ]
