"""HTTP semantics: headers, ETag/304, primary and secondary limits, auth, 301/404, GHES."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prmon_pipeline.fakehub import World, create_app, sync_client
from prmon_pipeline_tests.core.corpus import CORPUS
from prmon_pipeline_tests.fakehub.conftest import AppFactory, FakeClock

PLAIN = {"Accept-Encoding": "identity"}
# Transport or account specifics the simulator does not reproduce on purpose.
NOT_SIMULATED = {
    "date",
    "transfer-encoding",
    "x-oauth-scopes",
    "x-accepted-oauth-scopes",
    "x-oauth-client-id",
    "content-encoding",
    "status",
}


def _recorded_header_names(path: Path) -> set[str]:
    exchange = json.loads(path.read_text())["exchanges"][0]
    return {k.lower() for k, _ in exchange["response"]["headers"]} - NOT_SIMULATED


def test_header_set_matches_recordings(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    sha = world.pull_requests(name)[0]["head"]["sha"]
    runs = client.get(f"/repos/{name}/commits/{sha}/check-runs?per_page=1")
    recorded = _recorded_header_names(
        CORPUS / "exchanges" / "check-runs-filter-latest-all-per_page1-pygithub-2020.json"
    )
    assert recorded <= set(runs.headers.keys())
    repo = client.get(f"/repos/{name}")
    recorded_304 = _recorded_header_names(
        CORPUS / "exchanges" / "conditional-request-304-pygithub-2023.json"
    )
    assert recorded_304 <= set(repo.headers.keys())
    assert runs.headers["content-type"] == "application/json; charset=utf-8"
    assert runs.headers["x-github-api-version-selected"] == "2022-11-28"
    fields = runs.headers["x-github-request-id"].split(":")
    assert len(fields) == 5 and all(int(f, 16) >= 0 for f in fields)


def test_etag_strong_plain_weak_gzip_and_304_is_free(world: World, client: httpx.Client) -> None:
    app_hub = client._transport._inner.app.state.hub  # type: ignore[attr-defined]
    url = f"/repos/{world.repository_names()[0]}/pulls?state=all"
    plain = client.get(url, headers=PLAIN)
    zipped = client.get(url)
    assert plain.headers["etag"].startswith('"') and "content-encoding" not in plain.headers
    assert zipped.headers["etag"] == "W/" + plain.headers["etag"]
    assert zipped.headers["content-encoding"] == "gzip" and zipped.json() == plain.json()
    remaining = int(zipped.headers["x-ratelimit-remaining"])
    for validator in (
        plain.headers["etag"],
        zipped.headers["etag"],
        f'"x", {plain.headers["etag"]}',
        "*",
    ):
        again = client.get(url, headers={"If-None-Match": validator})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == plain.headers["etag"]
        assert int(again.headers["x-ratelimit-remaining"]) == remaining
        assert "x-github-request-id" in again.headers
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert app_hub.counters.not_modified == 4
    assert app_hub.rate_limit_remaining() == remaining - 1


def test_etag_changes_when_the_page_changes(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    url = f"/repos/{name}/pulls?state=all&sort=updated&direction=desc"
    first = client.get(url)
    world.advance(10)
    world.apply_event(name, 5, "edit")
    changed = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    assert changed.json()[0]["number"] == 5


def test_check_run_changes_change_runs_etag_only(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    pulls = client.get(f"/repos/{name}/pulls?state=all")
    sha = world.touch_check_runs_only(name)
    runs_url = f"/repos/{name}/commits/{sha}/check-runs"
    runs = client.get(runs_url)
    world.rerun_check_run(name, sha)
    assert client.get(runs_url, headers={"If-None-Match": runs.headers["etag"]}).status_code == 200
    again = client.get(
        f"/repos/{name}/pulls?state=all", headers={"If-None-Match": pulls.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize("status", [403, 429])
def test_primary_limit_exhaustion_and_reset(
    world: World, make_app: AppFactory, clock: FakeClock, status: int
) -> None:
    app = make_app(rate_limit=3, rate_limit_status=status)
    name = world.repository_names()[0]
    with sync_client(app) as client:
        first = client.get(f"/repos/{name}")
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        assert first.headers["x-ratelimit-used"] == "1"
        assert first.headers["x-ratelimit-resource"] == "core"
        reset = int(first.headers["x-ratelimit-reset"])
        assert reset == int(clock.now) + 3600
        assert client.get(f"/repos/{name}/pulls/999999").status_code == 404  # charged
        assert client.get("/repos/acme/missing").status_code == 404  # charged
        limited = client.get(f"/repos/{name}")
        assert limited.status_code == status
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert limited.headers["x-ratelimit-reset"] == str(reset)
        assert limited.json()["message"].startswith("API rate limit exceeded")
        overview = client.get("/rate_limit")  # free, still answers
        assert overview.status_code == 200
        assert overview.json()["resources"]["core"]["remaining"] == 0
        assert app.state.hub.counters.rate_limited == 1
        clock.advance(3600)
        assert client.get(f"/repos/{name}").status_code == 200
        app.state.hub.reset_rate_limit()
        assert app.state.hub.rate_limit_remaining() == 3


def test_per_token_buckets(world: World, make_app: AppFactory) -> None:
    app = make_app(rate_limit=2, valid_tokens=frozenset({"a", "b"}))
    name = world.repository_names()[0]
    with sync_client(app) as client:
        for _ in range(2):
            ok = client.get(f"/repos/{name}", headers={"Authorization": "Bearer a"})
            assert ok.headers["cache-control"] == "private, max-age=60, s-maxage=60"
        assert client.get(f"/repos/{name}", headers={"Authorization": "token a"}).status_code == 403
        assert (
            client.get(f"/repos/{name}", headers={"Authorization": "Bearer b"}).status_code == 200
        )
        assert app.state.hub.rate_limit_remaining("a") == 0
        assert app.state.hub.rate_limit_remaining("b") == 1


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_per_minute_with_retry_after(
    world: World, make_app: AppFactory, clock: FakeClock, status: int
) -> None:
    app = make_app(secondary_per_minute=2, rate_limit_status=status)
    clock.now = 1_800_000_015.0  # 45 s before the minute rolls over
    url = f"/repos/{world.repository_names()[0]}"
    with sync_client(app) as client:
        assert [client.get(url).status_code for _ in range(2)] == [200, 200]
        limited = client.get(url)
        assert limited.status_code == status
        assert limited.headers["retry-after"] == "45"
        assert limited.json()["message"] == (
            "You have exceeded a secondary rate limit. "
            "Please wait a few minutes before you try again."
        )
        assert "secondary-rate-limits" in limited.json()["documentation_url"]
        clock.advance(45)
        assert client.get(url).status_code == 200
        assert app.state.hub.counters.secondary_limited == 1


class HeldFirstResponse:
    """ASGI wrapper: the first response waits to start until ``release`` is set.

    While it waits, its request is still in flight inside the hub, so a second request meets the
    concurrency limit for certain (no sleep deciding which request comes first).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self._first = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._first:
            await self.app(scope, receive, send)
            return
        self._first = False

        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.holding.set()
                await self.release.wait()
            await send(message)

        await self.app(scope, receive, held_send)


def test_secondary_concurrency_limit(world: World, make_app: AppFactory) -> None:
    app = make_app(secondary_concurrency=1)
    url = f"/repos/{world.repository_names()[0]}"

    async def burst() -> list[httpx.Response]:
        held = HeldFirstResponse(app)
        transport = httpx.ASGITransport(app=held)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.ensure_future(client.get(url))
            await asyncio.wait_for(held.holding.wait(), timeout=60)
            second = await client.get(url)
            held.release.set()
            return [await first, second]

    slow, quick = asyncio.run(burst())
    assert slow.status_code == 200
    assert quick.status_code == 403 and quick.headers["retry-after"] == "60"


def test_auth_required_and_bad_credentials(world: World, make_app: AppFactory) -> None:
    app = make_app(require_auth=True, valid_tokens=frozenset({"good"}))
    url = f"/repos/{world.repository_names()[0]}"
    with sync_client(app) as client:
        missing = client.get(url)
        assert missing.status_code == 401 and missing.json()["message"] == "Requires authentication"
        bad = client.get(url, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
        assert "x-ratelimit-remaining" in bad.headers
        assert client.get(url, headers={"Authorization": "Bearer good"}).status_code == 200


def test_renamed_repository_answers_301(world: World, client: httpx.Client) -> None:
    old = world.repository_names()[0]
    repo_id = world.repository(old)["id"]
    world.rename_repository(old, "new-name")
    moved = client.get(f"/repos/{old.upper()}/pulls?state=all&per_page=5")
    assert moved.status_code == 301
    location = f"http://fakehub.test/repositories/{repo_id}/pulls?state=all&per_page=5"
    assert moved.headers["location"] == location
    assert moved.json() == {
        "message": "Moved Permanently",
        "url": location,
        "documentation_url": "https://docs.github.com/v3/#http-redirects",
    }
    assert moved.headers["x-ratelimit-used"] == "1"
    followed = client.get(f"/repos/{old}/pulls?state=all&per_page=5", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.json() == world.pull_requests("acme/new-name")[:5]
    assert client.get(f"/repos/{old}").headers["location"].endswith(f"/repositories/{repo_id}")


@pytest.mark.parametrize(
    "path",
    [
        "/repos/acme/nope/pulls",
        "/repos/acme/nope",
        "/repositories/1/pulls",
        "/nothing/here",
        "/repos/{name}/pulls/424242",
    ],
)
def test_not_found(world: World, client: httpx.Client, path: str) -> None:
    response = client.get(path.format(name=world.repository_names()[0]))
    assert response.status_code == 404
    assert response.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def test_ghes_prefix(world: World, make_app: AppFactory) -> None:
    app = make_app(ghes=True)
    name = world.repository_names()[0]
    with sync_client(app) as client:
        assert str(client.base_url).endswith("/api/v3/")
        page = client.get(f"/repos/{name}/pulls?state=all")
        assert page.status_code == 200
        assert page.links["next"]["url"].startswith("http://fakehub.test/api/v3/repositories/")
        assert client.get(page.links["next"]["url"]).status_code == 200
    with sync_client(create_app(world)) as plain:
        assert plain.get(f"/api/v3/repos/{name}").status_code == 404


def test_api_version_head_and_counters(world: World, app: object, client: httpx.Client) -> None:
    hub = client._transport._inner.app.state.hub  # type: ignore[attr-defined]
    url = f"/repos/{world.repository_names()[0]}"
    assert client.get(url, headers={"X-GitHub-Api-Version": "2022-11-28"}).status_code == 200
    bad = client.get(url, headers={"X-GitHub-Api-Version": "1999-01-01"})
    assert bad.status_code == 400
    assert bad.headers["x-github-api-version-selected"] == "2022-11-28"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b"" and "etag" in head.headers
    assert hub.counters.total == 3 and hub.counters.by_route == {"repo": 3}
    assert hub.counters.by_status == {200: 2, 400: 1}
    hub.counters.reset()
    assert hub.counters.total == 0 and hub.counters.by_route == {}


def test_single_pull_request_has_last_modified(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    response = client.get(f"/repos/{name}/pulls/7")
    assert response.json() == world.pull_request(name, 7)
    assert response.headers["last-modified"].endswith("GMT")
    assert (
        client.get(
            f"/repos/{name}/pulls/7", headers={"If-None-Match": response.headers["etag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize("style", ["legacy", "body_only"])
def test_secondary_limit_shapes(world: World, make_app: AppFactory, style: str) -> None:
    app = make_app(secondary_per_minute=1, secondary_style=style, secondary_status=403)
    url = f"/repos/{world.repository_names()[0]}"
    with sync_client(app) as client:
        client.get(url)
        limited = client.get(url)
    assert limited.status_code == 403
    if style == "legacy":
        assert limited.json()["message"].startswith("You have triggered an abuse detection")
        assert "retry-after" in limited.headers
        assert not any(h.startswith("x-ratelimit") for h in limited.headers)
    else:
        assert "secondary rate limit" in limited.json()["message"]
        assert "retry-after" not in limited.headers


def test_api_version_2026_03_10_drops_fields(world: World, client: httpx.Client) -> None:
    name = world.repository_names()[0]
    newest = {"X-GitHub-Api-Version": "2026-03-10"}
    pulls = client.get(f"/repos/{name}/pulls", headers=newest)
    assert pulls.headers["x-github-api-version-selected"] == "2026-03-10"
    old = client.get(f"/repos/{name}/pulls")
    assert pulls.headers["etag"] != old.headers["etag"]
    for pr in pulls.json():
        assert "merge_commit_sha" not in pr and "assignee" not in pr
        assert "has_downloads" not in pr["base"]["repo"]
    single = client.get(f"/repos/{name}/pulls/3", headers=newest).json()
    assert "merge_commit_sha" not in single and "assignee" not in single
    assert "has_downloads" not in client.get(f"/repos/{name}", headers=newest).json()
    assert "rate" not in client.get("/rate_limit", headers=newest).json()
    etag = pulls.headers["etag"]
    again = client.get(f"/repos/{name}/pulls", headers={**newest, "If-None-Match": etag})
    assert again.status_code == 304
