"""Seeded creation of the initial world: users, repositories, forks, PRs and head commits.

Everything draws from one ``random.Random(seed)`` in a fixed order, so a config always gives
the same world. The content deliberately contains what breaks naive syncs: unicode, bodies
over 64 KiB, a NUL character, SQL-looking titles, ids above 2**31, forks whose repository or
owner was deleted (``head.repo``/``head.user``/``head.label`` null).
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, field

from prmon_pipeline.fakehub.config import WorldConfig
from prmon_pipeline.fakehub.model import App, Commit, Label, PullRequest, Repository, User
from prmon_pipeline.fakehub.render_repository import app_json

PR_ID_BASE = 2_147_483_648 - 5 * 100_003  # from the 6th PR on, ids exceed 2**31
PR_ID_STEP = 100_003
GHOST = User(login="ghost", id=10137)

_REPO_WORDS = ("Widgets", "api-gateway", "docs", "FrontEnd", "billing", "infra", "ml_models")
_TITLES = (
    "Fix flaky test in {area}",
    "Add {area} support",
    "Refactor {area} module",
    "Bump {area} from 1.2.3 to 1.2.4",
    "WIP: rewrite {area}",
    "Document {area} configuration",
    "Improve {area} performance",
)
_AREAS = (
    "sync",
    "webhooks",
    "auth",
    "pagination",
    "cache",
    "CLI",
    "réseau",
    "日本語 UI",
    "emoji 🚀",
)
_ODD_TITLES = (
    "'; DROP TABLE pull_requests; --",
    'Robert"); DROP TABLE students;-- ',
    "Ünïcödé — ταχύτητα — 速度 — 🐛🔥",
    'Title with\ttab and \\backslash and "quotes"',
)
_BODIES = (
    None,
    "",
    "Fixes #12.\n\n- [x] tests\n- [ ] docs",
    "Résumé: ça marche. 中文说明。 🎉",
    "Body with a NUL \u0000 character inside",
    "<!-- template -->\r\n## Summary\r\nWindows line endings.",
)
_LABELS = (
    ("bug", "Something isn't working", "d73a4a", True),
    ("enhancement", "New feature or request", "a2eeef", True),
    ("documentation", "Improvements or additions to documentation", "0075ca", True),
    ("good first issue", "Good for newcomers", "7057ff", True),
    ("needs review", "", "fbca04", False),
    ("🚀 release", "Ship it", "0e8a16", False),
)
_APPS = (
    (15368, "github-actions", "GitHub Actions"),
    (18001, "circleci-checks", "CircleCI Checks"),
    (254, "codecov", "Codecov"),
    (987654, "prmon-policy", "prmon policy"),
)


@dataclass(slots=True)
class Population:
    """What generation hands to :class:`World`."""

    owner: User
    users: list[User]
    members: list[User]
    outsiders: list[User]
    apps: list[App]
    repos: list[Repository]
    forks: dict[tuple[int, int], Repository] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    sha_serial: int = 0
    pr_serial: int = 0
    fork_id: int = 800_000_000


def new_sha(pop: Population, seed: int) -> str:
    """A fresh, unique 40-hex SHA (deterministic: seed + counter)."""
    pop.sha_serial += 1
    return hashlib.sha1(f"{seed}:{pop.sha_serial}".encode()).hexdigest()  # noqa: S324


def new_commit(
    pop: Population, cfg: WorldConfig, rng: random.Random, repo: Repository, at: int
) -> Commit:
    """A head commit with a planned number of runs (none / normal / matrix > 100)."""
    sha = new_sha(pop, cfg.seed)
    draw = rng.random()
    matrix = draw < cfg.matrix_fraction
    if matrix:
        planned = rng.randint(*cfg.matrix_runs)
    elif draw < cfg.matrix_fraction + cfg.no_checks_fraction:
        planned = 0
    else:
        planned = cfg.check_runs_per_sha
    commit = Commit(
        sha=sha,
        serial=pop.sha_serial,
        repo=repo,
        created_at=at,
        planned_runs=planned,
        matrix=matrix,
    )
    pop.commits[sha] = commit
    return commit


def fork_of(pop: Population, repo: Repository, user: User, at: int) -> Repository:
    """The user's fork of ``repo`` (one per user and repository)."""
    key = (user.id, repo.id)
    fork = pop.forks.get(key)
    if fork is None:
        pop.fork_id += 7
        fork = Repository(
            id=pop.fork_id,
            name=repo.name,
            owner=user,
            created_at=at,
            pushed_at=at,
            description=repo.description,
            fork=True,
        )
        pop.forks[key] = fork
        repo.forks_count += 1
    return fork


@functools.lru_cache(maxsize=4)
def _long_body(size: int) -> str:
    """One shared long body per size: a 100 x 1,000 world would hold 200 MB of copies."""
    line = "Long body line — ünïcödé 🚀 0123456789 abcdefghijklmnopqrstuvwxyz\n"
    return line * (size // len(line.encode()) + 1)


def title_and_body(cfg: WorldConfig, rng: random.Random) -> tuple[str, str | None]:
    """Mostly ordinary text; sometimes SQL-looking, unicode, NUL-bearing or > 64 KiB."""
    draw = rng.random()
    if draw < 0.06:
        title = rng.choice(_ODD_TITLES)
    else:
        title = rng.choice(_TITLES).format(area=rng.choice(_AREAS))
    if rng.random() < cfg.long_body_fraction:
        body: str | None = _long_body(cfg.long_body_bytes)
    else:
        body = rng.choice(_BODIES)
    return title, body


def population(cfg: WorldConfig, rng: random.Random) -> Population:
    """Users, apps and empty repositories."""
    owner = User(login=cfg.owner, id=9_000_000 + cfg.seed % 1000, type="Organization")
    users = [User(login=f"dev-{i:03d}", id=1_000_000 + i * 7919) for i in range(40)]
    apps_owner = User(login="github", id=9919, type="Organization")
    apps = []
    for ident, slug, name in _APPS:
        app = App(id=ident, slug=slug, name=name)
        apps.append(app)
    pop = Population(
        owner=owner, users=users, members=users[:15], outsiders=users[15:], apps=apps, repos=[]
    )
    for app in apps:
        app.json = app_json(app, apps_owner, cfg.api_url, cfg.html_url)
    start = int(cfg.start.timestamp())
    for i in range(cfg.repositories):
        repo_id = world_repository_base_id(cfg) + i * 1013
        created = start - cfg.history_days * 86400 - rng.randint(86400, 900 * 86400)
        repo = Repository(
            id=repo_id,
            name=f"{_REPO_WORDS[i % len(_REPO_WORDS)]}-{i}",
            owner=owner,
            created_at=created,
            pushed_at=start - rng.randint(0, 86400),
            description=rng.choice((None, "Service of the acme platform", "Dépôt ✨ de test")),
        )
        for j, (name, desc, color, default) in enumerate(_LABELS):
            repo.labels.append(Label(repo_id * 10 + j, name, desc, color, default))
        pop.repos.append(repo)
    return pop


def new_pull_request(
    pop: Population, cfg: WorldConfig, rng: random.Random, repo: Repository, created: int
) -> PullRequest:
    """An open PR created at ``created`` (same-repo or from a fork), with its head commit."""
    pop.pr_serial += 1
    number = len(repo.pulls) + 1
    pr_id = PR_ID_BASE + pop.pr_serial * PR_ID_STEP + rng.randrange(PR_ID_STEP)
    title, body = title_and_body(cfg, rng)
    head_repo: Repository | None = repo
    head_user: User | None = repo.owner
    gone_label = False
    if rng.random() < cfg.fork_fraction:
        author = rng.choice(pop.outsiders)
        association = rng.choice(("CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE", "FIRST_TIMER"))
        head_ref = rng.choice(("main", f"patch-{number}", f"fix/{number}-typo"))
        head_user = author
        head_repo = fork_of(pop, repo, author, created)
        draw = rng.random()
        if draw < cfg.deleted_owner_fraction:
            head_repo, head_user, gone_label, author = None, None, True, GHOST
            association = "NONE"
        elif draw < cfg.deleted_owner_fraction + cfg.deleted_fork_fraction:
            head_repo = None
    else:
        author = rng.choice(pop.members)
        association = rng.choice(("MEMBER", "MEMBER", "COLLABORATOR", "OWNER"))
        head_ref = f"feature/{number}-{rng.choice(_AREAS).split()[0].lower()}"
    commit = new_commit(pop, cfg, rng, repo, created + rng.randint(0, 60))
    pr = PullRequest(
        repo=repo,
        number=number,
        id=pr_id,
        title=title,
        body=body,
        user=author,
        state="open",
        draft=rng.random() < cfg.draft_fraction,
        created_at=created,
        updated_at=created,
        closed_at=None,
        merged_at=None,
        merge_commit_sha=new_sha(pop, cfg.seed),
        merged_by=None,
        head_ref=head_ref,
        head_sha=commit.sha,
        head_repo=head_repo,
        head_user=head_user,
        base_ref="main",
        base_sha=new_sha(pop, cfg.seed),
        author_association=association,
        head_label_gone=gone_label,
        labels=rng.sample(repo.labels, rng.choice((0, 0, 1, 1, 2, 3))),
        assignees=rng.sample(pop.members, rng.choice((0, 0, 1, 2))),
        comments=rng.randint(0, 30),
        review_comments=rng.randint(0, 15),
        commits=rng.randint(1, 12),
        additions=rng.randint(0, 4000),
        deletions=rng.randint(0, 2000),
        changed_files=rng.randint(1, 60),
    )
    if rng.random() < 0.01:
        pr.locked, pr.active_lock_reason = True, "too heated"
    if not pr.is_fork:
        commit.pulls.append(pr)
    repo.pulls[number] = pr
    repo.open_issues_count += 1
    return pr


def generate(cfg: WorldConfig) -> tuple[Population, random.Random]:
    """The initial world at ``cfg.start``; returns the rng that ``advance`` continues with."""
    rng = random.Random(cfg.seed)
    pop = population(cfg, rng)
    start = int(cfg.start.timestamp())
    earliest = start - cfg.history_days * 86400
    births = sorted(
        (rng.randint(earliest, start - 3600), i)
        for i in range(len(pop.repos))
        for _ in range(cfg.prs_per_repository)
    )
    closed_share = max(0.0, 1.0 - cfg.open_fraction - cfg.merged_fraction)
    for created, i in births:
        repo = pop.repos[i]
        pr = new_pull_request(pop, cfg, rng, repo, created)
        kind = rng.choices(
            ("open", "merged", "closed"), (cfg.open_fraction, cfg.merged_fraction, closed_share)
        )[0]
        span = start - created
        if kind == "open":
            pr.updated_at = created + rng.randint(0, span)
            if not pr.is_fork and rng.random() < 0.05:
                pr.auto_merge_method = rng.choice(("merge", "squash", "rebase"))
            pr.requested_reviewers = rng.sample(pop.members, rng.choice((0, 1, 2)))
        else:
            pr.draft = False
            closed = created + rng.randint(60, max(60, min(span, 60 * 86400)))
            closed = min(closed, start - 1)
            pr.state, pr.closed_at = "closed", closed
            pr.updated_at = closed if rng.random() < 0.8 else rng.randint(closed, start - 1)
            repo.open_issues_count -= 1
            if kind == "merged":
                pr.merged_at = closed
                pr.merged_by = rng.choice(pop.members)
        head = pop.commits[pr.head_sha]
        head.created_at = min(head.created_at, pr.updated_at)
    return pop, rng


def world_repository_base_id(cfg: WorldConfig) -> int:
    """The first repository id of a world, different for every world that differs in content.

    Same seed but another PR count or start time is another world (other SHAs, other PRs under
    the same names): on GitHub those would be other repositories, with other ids, and that is
    how a warehouse notices that a name now means another repository.
    """
    shape = f"{cfg.seed}:{cfg.repositories}:{cfg.prs_per_repository}:{cfg.start.isoformat()}"
    digest = int(hashlib.sha1(shape.encode(), usedforsecurity=False).hexdigest(), 16)
    return 400_000_000 + digest % 99_991 * 10_000
