-- The warehouse contract of DESIGN.md: repositories, pull requests, check runs, state history,
-- the sync audit trail, and the sync cursors committed with the data they describe.
-- Every timestamp is timestamptz (UTC); every GitHub id is bigint (some exceed 2^31).

CREATE TABLE prmon.repositories (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner           text        NOT NULL,
    name            text        NOT NULL,
    full_name       text        NOT NULL UNIQUE,
    github_id       bigint      UNIQUE,
    active          boolean     NOT NULL DEFAULT true,
    failure_count   integer     NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    last_error      text,
    last_attempt_at timestamptz,
    last_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (full_name = owner || '/' || name)
);
-- GitHub treats owner/name case-insensitively, so must we.
CREATE UNIQUE INDEX repositories_full_name_ci ON prmon.repositories (lower(full_name));

CREATE TABLE prmon.pull_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id       bigint      NOT NULL REFERENCES prmon.repositories (id) ON DELETE CASCADE,
    number              bigint      NOT NULL CHECK (number > 0),
    github_id           bigint      NOT NULL,
    title               text        NOT NULL,
    body                text,
    state               text        NOT NULL CHECK (state IN ('open', 'closed', 'merged')),
    draft               boolean     NOT NULL DEFAULT false,
    author_login        text,
    base_ref            text        NOT NULL,
    base_sha            text        NOT NULL,
    head_ref            text        NOT NULL,
    head_sha            text        NOT NULL,
    head_repo_full_name text,
    labels              text[]      NOT NULL DEFAULT '{}',
    assignees           text[]      NOT NULL DEFAULT '{}',
    html_url            text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    merged_at           timestamptz,
    deleted_at          timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, number),
    CHECK (state <> 'merged' OR merged_at IS NOT NULL)
);
CREATE INDEX pull_requests_repository_updated ON prmon.pull_requests (repository_id, updated_at DESC);
CREATE INDEX pull_requests_repository_head_sha ON prmon.pull_requests (repository_id, head_sha);

CREATE TABLE prmon.check_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Denormalised so a repository's snapshot and MERGE need no join through pull_requests.
    -- No foreign key of its own: pull_request_id's already ties the row to its repository (and
    -- cascades), and a second per-row RI trigger would double the cost of loading check runs.
    repository_id   bigint      NOT NULL,
    pull_request_id bigint      NOT NULL REFERENCES prmon.pull_requests (id) ON DELETE CASCADE,
    github_id       bigint      NOT NULL,
    head_sha        text        NOT NULL,
    name            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN (
        'queued', 'in_progress', 'completed', 'waiting', 'requested', 'pending')),
    conclusion      text CHECK (conclusion IS NULL OR conclusion IN (
        'success', 'failure', 'neutral', 'cancelled', 'skipped', 'timed_out',
        'action_required', 'stale', 'startup_failure')),
    app_slug        text,
    details_url     text,
    -- GitHub Apps supply these: completed_at may precede started_at, so no ordering CHECK.
    started_at      timestamptz,
    completed_at    timestamptz,
    output_title    text,
    output_summary  text,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pull_request_id, github_id)
);
CREATE INDEX check_runs_repository ON prmon.check_runs (repository_id);
-- The incremental snapshot and discovery ask "which PRs still have checks running?".
CREATE INDEX check_runs_incomplete ON prmon.check_runs (repository_id, pull_request_id)
    WHERE status <> 'completed';

CREATE TABLE prmon.sync_runs (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id        bigint      NOT NULL REFERENCES prmon.repositories (id) ON DELETE CASCADE,
    mode                 text        NOT NULL CHECK (mode IN ('incremental', 'full', 'single')),
    dry_run              boolean     NOT NULL DEFAULT false,
    started_at           timestamptz NOT NULL,
    finished_at          timestamptz,
    status               text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    prs_new              integer     NOT NULL DEFAULT 0,
    prs_updated          integer     NOT NULL DEFAULT 0,
    prs_unchanged        integer     NOT NULL DEFAULT 0,
    prs_deleted          integer     NOT NULL DEFAULT 0,
    check_runs_new       integer     NOT NULL DEFAULT 0,
    check_runs_updated   integer     NOT NULL DEFAULT 0,
    state_changes        integer     NOT NULL DEFAULT 0,
    api_requests         integer     NOT NULL DEFAULT 0,
    api_not_modified     integer     NOT NULL DEFAULT 0,
    rate_limit_remaining integer,
    error                text,
    dagster_run_id       text
);
CREATE INDEX sync_runs_repository_started ON prmon.sync_runs (repository_id, started_at DESC);

CREATE TABLE prmon.pr_state_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id bigint      NOT NULL REFERENCES prmon.pull_requests (id) ON DELETE CASCADE,
    from_state      text CHECK (from_state IN ('open', 'closed', 'merged')),
    to_state        text        NOT NULL CHECK (to_state IN ('open', 'closed', 'merged')),
    changed_at      timestamptz NOT NULL,
    sync_run_id     bigint REFERENCES prmon.sync_runs (id) ON DELETE SET NULL,
    CHECK (from_state IS DISTINCT FROM to_state)
);
CREATE INDEX pr_state_history_pull_request ON prmon.pr_state_history (pull_request_id, changed_at);

-- Sync cursors: written by the load in the same transaction as the rows they describe,
-- so a failed load never advances them.
CREATE TABLE prmon.sync_cursors (
    repository_id     bigint PRIMARY KEY REFERENCES prmon.repositories (id) ON DELETE CASCADE,
    pulls_watermark   timestamptz,
    pulls_etag        text,
    last_full_sync_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prmon.check_run_etags (
    repository_id bigint NOT NULL REFERENCES prmon.repositories (id) ON DELETE CASCADE,
    head_sha      text   NOT NULL,
    etag          text   NOT NULL,
    PRIMARY KEY (repository_id, head_sha)
);
