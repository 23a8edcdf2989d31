-- GraphQL spend per sync run (issue 15): check runs are read by GraphQL batches, charged to a
-- pool of points separate from REST's units. api_requests/api_not_modified stay REST-only;
-- graphql_points is what GitHub's rateLimit.cost said, split over the repositories that shared
-- each query, and graphql_queries counts the queries a repository took part in.

ALTER TABLE prmon.sync_runs
    ADD COLUMN graphql_points  integer NOT NULL DEFAULT 0,
    ADD COLUMN graphql_queries integer NOT NULL DEFAULT 0;
