-- Webhook deliveries (issue 16): a durable inbox. The receiver stores every delivery whose
-- signature verified, raw (the exact bytes GitHub signed, JSON or form), before it answers 2xx;
-- the applier turns pending rows into the same changeset and load as a poll, and marks them
-- applied in that load's transaction, so a crash re-applies them (idempotently).
--
-- status: pending  → stored, waiting for the applier
--         applied  → its record reached the warehouse (or was older than what is stored)
--         ignored  → acknowledged and counted, never applied (unknown event or action,
--                    unregistered repository, ping); reason says which
--         rejected → signature was valid but the body was not usable (malformed JSON, no
--                    repository); reason says why
CREATE TABLE prmon.webhook_deliveries (
    id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guid                  text        NOT NULL,
    -- X-GitHub-Hook-ID; 0 when the header is missing (a duplicate GUID from the same sender
    -- still collapses).
    hook_id               bigint      NOT NULL DEFAULT 0,
    event                 text        NOT NULL,
    action                text,
    target_type           text,
    target_id             bigint,
    installation_id       bigint,
    -- GitHub's repository id and name as the payload gave them (NULL when it has none).
    repository_github_id  bigint,
    repository_full_name  text,
    content_type          text        NOT NULL,
    body                  bytea       NOT NULL,
    received_at           timestamptz NOT NULL DEFAULT now(),
    status                text        NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'applied', 'ignored', 'rejected')),
    reason                text,
    applied_at            timestamptz,
    sync_run_id           bigint      REFERENCES prmon.sync_runs (id) ON DELETE SET NULL,
    UNIQUE (guid, hook_id)
);
CREATE INDEX webhook_deliveries_pending
    ON prmon.webhook_deliveries (lower(repository_full_name), id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_received_at ON prmon.webhook_deliveries (received_at);

-- `prmon webhooks recover` lists failed deliveries "since the last check": one row per hook
-- (scope 'repo' / 'org' / 'app', the owner or repository, the hook id).
CREATE TABLE prmon.webhook_recoveries (
    scope           text        NOT NULL CHECK (scope IN ('repo', 'org', 'app')),
    target          text        NOT NULL,
    hook_id         bigint      NOT NULL,
    last_checked_at timestamptz NOT NULL,
    PRIMARY KEY (scope, target, hook_id)
);

-- A sync run that applied deliveries is mode 'events'.
ALTER TABLE prmon.sync_runs DROP CONSTRAINT sync_runs_mode_check;
ALTER TABLE prmon.sync_runs ADD CONSTRAINT sync_runs_mode_check
    CHECK (mode IN ('incremental', 'full', 'single', 'events'));
