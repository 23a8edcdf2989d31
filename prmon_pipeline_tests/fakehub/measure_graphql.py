"""Measure fakehub's GraphQL serving time (not a test): ``uv run python -m
prmon_pipeline_tests.fakehub.measure_graphql [--repos 3 --prs 1000 --shas 50 --queries 40]``.

Times the contract's main query (``--shas`` head SHAs, checkSuites(10) x checkRuns(100)) per
request: in-process at the endpoint (parse cache warm), through the ASGI app, and over a real
uvicorn server on loopback. "cold" batches ask for SHAs nobody asked before, so their runs are
materialised on the way, as the first REST read of a SHA does.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import httpx
import orjson

from prmon_pipeline.fakehub import HubConfig, World, WorldConfig, create_app, serve, sync_client
from prmon_pipeline_tests.fakehub.graphql_queries import main_query, main_variables


def timings(call: Callable[[int], None], count: int) -> str:
    spent = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    p95 = spent[min(len(spent) - 1, int(len(spent) * 0.95))]
    return f"median {statistics.median(spent):6.1f} ms  p95 {p95:6.1f} ms  min {spent[0]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=3)
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument("--shas", type=int, default=50)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    world = World(WorldConfig(repositories=args.repos, prs_per_repository=args.prs))
    name = world.repository_names()[0]
    heads = [pr["head"]["sha"] for pr in world.pull_requests(name)]
    query = main_query([args.shas])

    def body(batch: int) -> bytes:
        shas = heads[batch * args.shas : (batch + 1) * args.shas]
        return orjson.dumps({"query": query, "variables": main_variables([(name, shas)])})

    app = create_app(world, HubConfig(rate_limit=10**9))
    endpoint = app.state.hub.graphql
    answer = orjson.loads(endpoint.respond(body(0), None).result.body)
    runs = sum(
        len(suite["checkRuns"]["nodes"])
        for head in answer["data"]["r0"].values()
        if isinstance(head, dict)
        for suite in head["checkSuites"]["nodes"]
    )
    print(f"{args.shas} SHAs, {runs} runs, cost {answer['data']['rateLimit']['cost']} points")
    batches = max(1, len(heads) // args.shas - 1)
    cold = min(args.queries, batches)
    print(
        f"{'endpoint, cold SHAs':<28}", timings(lambda i: endpoint.respond(body(1 + i), None), cold)
    )
    warm = body(0)
    print(f"{'endpoint, warm':<28}", timings(lambda i: endpoint.respond(warm, None), args.queries))
    started = time.process_time()
    for _ in range(args.queries):
        endpoint.respond(warm, None)
    cpu = (time.process_time() - started) * 1000 / args.queries
    print(
        f"{'endpoint, warm, CPU time':<28} mean {cpu:6.1f} ms (what other processes do not inflate)"
    )

    def post(client: httpx.Client) -> Callable[[int], None]:
        def call(_: int) -> None:
            client.post("/graphql", content=warm).raise_for_status()

        return call

    with sync_client(app) as client:
        print(f"{'ASGI in-process, warm':<28}", timings(post(client), args.queries))
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        print(f"{'uvicorn loopback, warm':<28}", timings(post(client), args.queries))


if __name__ == "__main__":
    main()
