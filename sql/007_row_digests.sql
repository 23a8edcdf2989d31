-- Row digests (issue 17): each stored pull request and check run carries a 128-bit digest of the
-- fields the changeset compares, so a sync reads (key, digest) for the rows it touched and full
-- rows only where the digest differs. prmon_pipeline/core/digests.py defines the digest and says
-- why it is built this way; the functions below compute the same bytes inside PostgreSQL, so the
-- rows stored before this migration get their digests here and no cold re-sync is needed.
--
-- The canonical text: each compared field, in the Arrow schema's order, is '-' when NULL, else
-- '<UTF-8 byte length>:<text>'; booleans as 'true'/'false', timestamps as epoch microseconds, a
-- text[] as its items' tokens (sorted by byte order) tokenised again as one text, an empty body
-- as NULL. The digest is the first 16 bytes of its SHA-256. NULL digest = unknown: the sync then
-- reads the full row, so a row written by anything other than prmon's load is never missed.

ALTER TABLE prmon.pull_requests ADD COLUMN digest bytea;
ALTER TABLE prmon.check_runs ADD COLUMN digest bytea;

CREATE FUNCTION prmon.digest_token(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(octet_length(convert_to(value, 'UTF8'))::text || ':' || value, '-') $$;

CREATE FUNCTION prmon.digest_list_token(items text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT prmon.digest_token(coalesce(
        (SELECT string_agg(prmon.digest_token(item), '' ORDER BY item COLLATE "C")
         FROM unnest(items) AS item),
        ''))
$$;

CREATE FUNCTION prmon.digest_time_token(value timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT prmon.digest_token(((extract(epoch FROM value) * 1000000)::bigint)::text) $$;

CREATE FUNCTION prmon.digest_of(canonical text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT substring(sha256(convert_to(canonical, 'UTF8')) FROM 1 FOR 16) $$;

CREATE FUNCTION prmon.pull_request_digest(p prmon.pull_requests) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT prmon.digest_of(
        prmon.digest_token(p.github_id::text)
        || prmon.digest_token(p.title)
        || prmon.digest_token(nullif(p.body, ''))
        || prmon.digest_token(p.state)
        || prmon.digest_token(p.draft::text)
        || prmon.digest_token(p.author_login)
        || prmon.digest_token(p.base_ref)
        || prmon.digest_token(p.base_sha)
        || prmon.digest_token(p.head_ref)
        || prmon.digest_token(p.head_sha)
        || prmon.digest_token(p.head_repo_full_name)
        || prmon.digest_list_token(p.labels)
        || prmon.digest_list_token(p.assignees)
        || prmon.digest_token(p.html_url)
        || prmon.digest_time_token(p.created_at)
        || prmon.digest_time_token(p.updated_at)
        || prmon.digest_time_token(p.closed_at)
        || prmon.digest_time_token(p.merged_at))
$$;

CREATE FUNCTION prmon.check_run_digest(c prmon.check_runs) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT prmon.digest_of(
        prmon.digest_token(c.head_sha)
        || prmon.digest_token(c.name)
        || prmon.digest_token(c.status)
        || prmon.digest_token(c.conclusion)
        || prmon.digest_token(c.app_slug)
        || prmon.digest_token(c.details_url)
        || prmon.digest_time_token(c.started_at)
        || prmon.digest_time_token(c.completed_at)
        || prmon.digest_token(c.output_title)
        || prmon.digest_token(c.output_summary))
$$;

UPDATE prmon.pull_requests p SET digest = prmon.pull_request_digest(p);
UPDATE prmon.check_runs c SET digest = prmon.check_run_digest(c);
