-- Both rate-limit pools per sync run (issue 15): GitHub's GraphQL API has its own hourly budget
-- beside REST's core pool, counted in points. graphql_points is what the run spent there,
-- graphql_remaining what its last GraphQL answer said was left (rate_limit_remaining stays the
-- REST core pool's).
ALTER TABLE prmon.sync_runs ADD COLUMN graphql_points integer NOT NULL DEFAULT 0;
ALTER TABLE prmon.sync_runs ADD COLUMN graphql_remaining integer;

-- A run stopped by --max-budget-share is 'deferred': not a failure (the repository's failure
-- count is not bumped), its cursors did not move, and the next cycle resumes where it stopped.
ALTER TABLE prmon.sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE prmon.sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'deferred'));
