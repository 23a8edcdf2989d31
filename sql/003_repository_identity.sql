-- Repository identity (issue 14, bug 2): a repository is GitHub's id; owner/name is only how the
-- user refers to it. When the name comes to mean another repository (deleted and re-created,
-- another repository renamed into it, a new simulated world), the old row is retired, not
-- deleted: it keeps its name, PRs, check runs and history, and the new repository of that name
-- gets a row (and github_id) of its own. Names and GitHub ids are unique among live rows only.

ALTER TABLE prmon.repositories
    ADD COLUMN retired_at     timestamptz,
    ADD COLUMN retired_reason text,
    ADD CONSTRAINT repositories_retired_with_reason
        CHECK ((retired_at IS NULL) = (retired_reason IS NULL)),
    ADD CONSTRAINT repositories_retired_inactive CHECK (retired_at IS NULL OR NOT active);

ALTER TABLE prmon.repositories DROP CONSTRAINT repositories_full_name_key;
DROP INDEX prmon.repositories_full_name_ci;
-- GitHub treats owner/name case-insensitively, so must we (among live rows). Unique lower(name)
-- implies unique name, so this one index replaces both the UNIQUE constraint and 001's index.
CREATE UNIQUE INDEX repositories_full_name_ci ON prmon.repositories (lower(full_name))
    WHERE retired_at IS NULL;

-- A retired row keeps the id it had; a new world may hand the same id to another repository.
ALTER TABLE prmon.repositories DROP CONSTRAINT repositories_github_id_key;
CREATE UNIQUE INDEX repositories_github_id_live ON prmon.repositories (github_id)
    WHERE retired_at IS NULL;

-- Why a PR was soft-deleted: NULL for a full reconciliation that no longer found it (as before),
-- otherwise e.g. the retirement of its repository.
ALTER TABLE prmon.pull_requests ADD COLUMN deleted_reason text;
