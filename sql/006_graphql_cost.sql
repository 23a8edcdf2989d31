-- GraphQL queries per sync run (issue 15): check runs are read by GraphQL batches, charged to a
-- pool of points separate from REST's units (sync_runs.graphql_points, migration 004, holds what
-- GitHub's rateLimit.cost said, split over the repositories that shared each query).
-- api_requests/api_not_modified stay REST-only; graphql_queries counts the queries a repository
-- took part in.

ALTER TABLE prmon.sync_runs
    ADD COLUMN graphql_queries integer NOT NULL DEFAULT 0;
