-- Org-wide repositories (issue 15, section 4): `prmon repos add 'OWNER/*'` registers a pattern that
-- keeps following the owner's repository listing. Repositories the pattern adds remember it
-- (added_by_pattern_id); those a person registers by name are added_explicitly and never
-- deactivated by a pattern. inactive_reason says why a row is inactive, so that a pattern undoes
-- its own deactivations (archived, fork, gone, pattern removed) but never a person's ('removed').

CREATE TABLE prmon.repository_patterns (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner             text        NOT NULL,
    owner_type        text        CHECK (owner_type IN ('Organization', 'User')),
    include_forks     boolean     NOT NULL DEFAULT false,
    include_archived  boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_refreshed_at timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    CHECK ((last_error IS NULL) = (last_error_at IS NULL))
);
-- GitHub logins are case-insensitive: one pattern per owner.
CREATE UNIQUE INDEX repository_patterns_owner_ci ON prmon.repository_patterns (lower(owner));

ALTER TABLE prmon.repositories
    ADD COLUMN added_by_pattern_id bigint
        REFERENCES prmon.repository_patterns (id) ON DELETE SET NULL,
    ADD COLUMN added_explicitly    boolean NOT NULL DEFAULT true,
    ADD COLUMN archived            boolean NOT NULL DEFAULT false,
    ADD COLUMN inactive_reason     text;
-- Rows registered before this migration were all added by name (the default above); those
-- already removed were removed by a person.
UPDATE prmon.repositories SET inactive_reason = 'removed' WHERE NOT active AND retired_at IS NULL;
CREATE INDEX repositories_added_by_pattern ON prmon.repositories (added_by_pattern_id)
    WHERE added_by_pattern_id IS NOT NULL;
