"""SQL text of the warehouse's read-only reports: ``prmon status``, sync-run figures, and the
integrity, duplicate and freshness queries behind the Dagster asset checks.

Built like ``core.sql_text``: functions returning text, tables through ``qualified``, selected
names through ``quote_ident``, every value a ``%(name)s`` parameter. A select list is a tuple of
``(name, expression)`` pairs, so a test can hold it against the record it fills. Retired
repository rows (``core.sql_registry``) are never reported as repositories of their own; their
PRs, check runs and history remain, reached by row id.
"""

from __future__ import annotations

from prmon_pipeline.core.sql_registry import LIVE
from prmon_pipeline.core.sql_text import qualified, quote_ident

Select = tuple[tuple[str, str], ...]

FAILING_CONCLUSIONS: tuple[str, ...] = (
    "failure",
    "timed_out",
    "startup_failure",
    "action_required",
)
"""Check-run conclusions that count as a failing check on an open PR."""

STATUS_SELECT: Select = (
    ("full_name", "r.full_name"),
    ("active", "r.active"),
    ("last_success_at", "r.last_success_at"),
    ("last_attempt_at", "r.last_attempt_at"),
    ("failure_count", "r.failure_count"),
    ("last_error", "r.last_error"),
    ("pull_requests", "coalesce(p.prs, 0)"),
    ("open_pull_requests", "coalesce(p.open_prs, 0)"),
    ("check_runs", "coalesce(c.check_runs, 0)"),
    ("open_prs_with_failing_checks", "coalesce(f.failing, 0)"),
    ("rate_limit_remaining", "s.rate_limit_remaining"),
    ("replaced_at", "x.retired_at"),
    ("replaced_reason", "x.retired_reason"),
    ("check_run_shas_refused", "coalesce(g.refused, 0)"),
    ("next_refused_retry_at", "g.next_retry"),
    ("graphql_remaining", "q.graphql_remaining"),
)
"""``prmon status``'s columns, in the field order of ``warehouse.status.RepositoryStatus``."""

SYNC_RUN_SELECT: Select = (
    ("id", "s.id"),
    ("full_name", "r.full_name"),
    ("mode", "s.mode"),
    ("dry_run", "s.dry_run"),
    ("status", "s.status"),
    ("prs_new", "s.prs_new"),
    ("prs_updated", "s.prs_updated"),
    ("prs_unchanged", "s.prs_unchanged"),
    ("prs_deleted", "s.prs_deleted"),
    ("check_runs_new", "s.check_runs_new"),
    ("check_runs_updated", "s.check_runs_updated"),
    ("state_changes", "s.state_changes"),
    ("api_requests", "s.api_requests"),
    ("api_not_modified", "s.api_not_modified"),
    ("graphql_points", "s.graphql_points"),
    ("graphql_queries", "s.graphql_queries"),
    ("seconds", "extract(epoch FROM s.finished_at - s.started_at)::float8"),
    ("error", "s.error"),
)
"""One ``sync_runs`` row's figures, in the field order of ``warehouse.status.SyncRunFigures``."""


def select_list(select: Select) -> str:
    """``expression AS "name", ...``."""
    return ", ".join(f"{expression} AS {quote_ident(name)}" for name, expression in select)


def _text_list(values: tuple[str, ...]) -> str:
    """A parenthesised list of constants of this module (never user input), quoted."""
    for value in values:
        if not value.replace("_", "").isalpha():
            raise ValueError(f"not a plain constant: {value!r}")
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def status_sql() -> str:
    """Every live repository's health; ``%(include_inactive)s`` adds removed ones.

    ``replaced_*`` name the most recent retired row of the same name, if any: the earlier
    repository this one replaced. ``check_run_shas_refused`` counts the head SHAs whose check
    runs GitHub refuses (backed off in ``check_run_failures``), ``next_refused_retry_at`` is
    when the first of them is asked again.
    """
    prs, runs, syncs, repos, refused = (
        qualified("pull_requests"),
        qualified("check_runs"),
        qualified("sync_runs"),
        qualified("repositories"),
        qualified("check_run_failures"),
    )
    return (
        f"SELECT {select_list(STATUS_SELECT)} FROM {repos} r"
        " LEFT JOIN LATERAL (SELECT count(*) AS prs,"
        " count(*) FILTER (WHERE state = 'open') AS open_prs"
        f" FROM {prs} WHERE repository_id = r.id AND deleted_at IS NULL) p ON true"
        " LEFT JOIN LATERAL (SELECT count(*) AS check_runs"
        f" FROM {runs} WHERE repository_id = r.id) c ON true"
        " LEFT JOIN LATERAL (SELECT count(DISTINCT pr.id) AS failing"
        f" FROM {prs} pr JOIN {runs} cr"
        " ON cr.pull_request_id = pr.id AND cr.head_sha = pr.head_sha"
        " WHERE pr.repository_id = r.id AND pr.state = 'open' AND pr.deleted_at IS NULL"
        f" AND cr.conclusion IN {_text_list(FAILING_CONCLUSIONS)}) f ON true"
        f" LEFT JOIN LATERAL (SELECT rate_limit_remaining FROM {syncs}"
        " WHERE repository_id = r.id AND rate_limit_remaining IS NOT NULL"
        " ORDER BY started_at DESC, id DESC LIMIT 1) s ON true"
        f" LEFT JOIN LATERAL (SELECT graphql_remaining FROM {syncs}"
        " WHERE repository_id = r.id AND graphql_remaining IS NOT NULL"
        " ORDER BY started_at DESC, id DESC LIMIT 1) q ON true"
        f" LEFT JOIN LATERAL (SELECT o.retired_at, o.retired_reason FROM {repos} o"
        " WHERE lower(o.full_name) = lower(r.full_name) AND o.retired_at IS NOT NULL"
        " ORDER BY o.retired_at DESC, o.id DESC LIMIT 1) x ON true"
        " LEFT JOIN LATERAL (SELECT count(*) AS refused, min(retry_after) AS next_retry"
        f" FROM {refused} WHERE repository_id = r.id) g ON true"
        f" WHERE r.{LIVE} AND (r.active OR %(include_inactive)s)"
        " ORDER BY r.full_name"
    )


def sync_runs_since_sql() -> str:
    """The sync runs that started at or after ``%(since)s``, by repository then id."""
    return (
        f"SELECT {select_list(SYNC_RUN_SELECT)} FROM {qualified('sync_runs')} s"
        f" JOIN {qualified('repositories')} r ON r.id = s.repository_id"
        " WHERE s.started_at >= %(since)s ORDER BY r.full_name, s.id"
    )


def state_transitions_of_runs_sql() -> str:
    """(repository, PR number, from, to) recorded by the sync runs ``%(sync_run_ids)s``."""
    return (
        "SELECT r.full_name, p.number, h.from_state, h.to_state"
        f" FROM {qualified('pr_state_history')} h"
        f" JOIN {qualified('pull_requests')} p ON p.id = h.pull_request_id"
        f" JOIN {qualified('repositories')} r ON r.id = p.repository_id"
        " WHERE h.sync_run_id = ANY(%(sync_run_ids)s) ORDER BY r.full_name, h.id"
    )


def integrity_sql() -> dict[str, str]:
    """Per rule, a count of the repository's rows that break a relation the schema cannot enforce.

    Each takes ``%(repository_id)s``.
    """
    prs, runs, history = (
        qualified("pull_requests"),
        qualified("check_runs"),
        qualified("pr_state_history"),
    )
    return {
        "check_runs_on_foreign_prs": (
            f"SELECT count(*) FROM {runs} c JOIN {prs} p"
            " ON p.id = c.pull_request_id WHERE c.repository_id = %(repository_id)s"
            " AND p.repository_id <> c.repository_id"
        ),
        "history_rows_of_foreign_runs": (
            f"SELECT count(*) FROM {history} h"
            f" JOIN {prs} p ON p.id = h.pull_request_id"
            f" JOIN {qualified('sync_runs')} r ON r.id = h.sync_run_id"
            " WHERE p.repository_id = %(repository_id)s AND r.repository_id <> p.repository_id"
        ),
        "prs_without_history": (
            f"SELECT count(*) FROM {prs} p WHERE p.repository_id = %(repository_id)s"
            f" AND NOT EXISTS (SELECT 1 FROM {history} h WHERE h.pull_request_id = p.id)"
        ),
        "prs_whose_history_ends_elsewhere": (
            f"SELECT count(*) FROM {prs} p"
            f" JOIN LATERAL (SELECT h.to_state FROM {history} h"
            " WHERE h.pull_request_id = p.id ORDER BY h.id DESC LIMIT 1) last ON true"
            " WHERE p.repository_id = %(repository_id)s AND last.to_state <> p.state"
        ),
        "merged_prs_without_merged_at": (
            f"SELECT count(*) FROM {prs}"
            " WHERE repository_id = %(repository_id)s AND state = 'merged' AND merged_at IS NULL"
        ),
    }


def duplicate_keys_sql() -> dict[str, str]:
    """Per key, a count of key values occurring more than once in the repository's rows."""
    prs, runs = qualified("pull_requests"), qualified("check_runs")
    return {
        "pull_request_numbers": (
            f"SELECT count(*) FROM (SELECT number FROM {prs}"
            " WHERE repository_id = %(repository_id)s GROUP BY number HAVING count(*) > 1) d"
        ),
        "pull_request_github_ids": (
            f"SELECT count(*) FROM (SELECT github_id FROM {prs}"
            " WHERE repository_id = %(repository_id)s GROUP BY github_id HAVING count(*) > 1) d"
        ),
        "check_run_keys": (
            f"SELECT count(*) FROM (SELECT pull_request_id, github_id FROM {runs}"
            " WHERE repository_id = %(repository_id)s GROUP BY 1, 2 HAVING count(*) > 1) d"
        ),
    }


def stored_counts_sql() -> dict[str, str]:
    """Live PRs, soft-deleted PRs and check runs stored for ``%(repository_id)s``."""
    prs = qualified("pull_requests")
    return {
        "pull_requests": (
            f"SELECT count(*) FROM {prs}"
            " WHERE repository_id = %(repository_id)s AND deleted_at IS NULL"
        ),
        "pull_requests_deleted": (
            f"SELECT count(*) FROM {prs}"
            " WHERE repository_id = %(repository_id)s AND deleted_at IS NOT NULL"
        ),
        "check_runs": (
            f"SELECT count(*) FROM {qualified('check_runs')}"
            " WHERE repository_id = %(repository_id)s"
        ),
    }


def pull_requests_present_sql() -> str:
    """How many of the PR numbers ``%(numbers)s`` the repository holds, not deleted."""
    return (
        f"SELECT count(DISTINCT number) FROM {qualified('pull_requests')}"
        " WHERE repository_id = %(repository_id)s"
        " AND deleted_at IS NULL AND number = ANY(%(numbers)s)"
    )


def check_runs_present_sql() -> str:
    """How many (PR number, run id) pairs of ``%(run_prs)s``/``%(run_ids)s`` are stored."""
    return (
        "SELECT count(*) FROM (SELECT DISTINCT k.pr, k.run"
        " FROM unnest(%(run_prs)s::bigint[], %(run_ids)s::bigint[]) AS k(pr, run)"
        f" JOIN {qualified('pull_requests')} p"
        " ON p.repository_id = %(repository_id)s AND p.number = k.pr"
        f" JOIN {qualified('check_runs')} c"
        " ON c.pull_request_id = p.id AND c.github_id = k.run) d"
    )


def repositories_with_pending_checks_sql() -> str:
    """Active live repositories with a check run not completed on some open PR's head."""
    return (
        f"SELECT DISTINCT r.full_name FROM {qualified('repositories')} r"
        f" JOIN {qualified('pull_requests')} p ON p.repository_id = r.id"
        " AND p.deleted_at IS NULL AND p.state = 'open'"
        f" JOIN {qualified('check_runs')} c"
        " ON c.pull_request_id = p.id AND c.head_sha = p.head_sha AND c.status <> 'completed'"
        f" WHERE r.active AND r.{LIVE}"
    )
