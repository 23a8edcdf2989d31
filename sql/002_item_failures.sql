-- Errors of one item, recorded instead of failing the repository (issue 14).

-- Head SHAs whose check runs GitHub refuses (404/422 "No commit found for SHA": a commit gone
-- after a force-push and garbage collection). A sync cursor like check_run_etags: written by
-- the load in the same transaction as the data, so a failed load never advances a back-off.
-- The SHA is not asked again before retry_after; a row goes once the SHA answers or no PR
-- points at it any more.
CREATE TABLE prmon.check_run_failures (
    repository_id   bigint      NOT NULL REFERENCES prmon.repositories (id) ON DELETE CASCADE,
    head_sha        text        NOT NULL,
    http_status     integer     NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL CHECK (attempts >= 1),
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    retry_after     timestamptz NOT NULL,
    PRIMARY KEY (repository_id, head_sha)
);

-- Items (SHAs, single PRs) that failed in one sync run without failing it.
ALTER TABLE prmon.sync_runs ADD COLUMN item_errors integer NOT NULL DEFAULT 0;
