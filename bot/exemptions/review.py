"""The ``compliance/exception-review`` verdict for a PR that changes the exceptions file, or that
loosens the repository config (``review_config``), both pure.

Everything it needs comes in as neutral facts gathered by the handler (from the base commit and
the forge); nothing here calls a forge or reads a clock. DESIGN §5 items 3, 4, 5, 7, 14 and 22
are decided here; the ledger and provenance (item 6) live in ``bot.ledger``.

The check passes only when all of these hold:

- the PR changes nothing but ``.compliance/exceptions.yaml`` (item 7);
- the head file validates: parse problems always count; ``validate`` problems count too, except
  ``expired`` on an entry the PR leaves untouched (a state the cleanup PR deals with, not a
  defect this PR brings in). Added and changed entries must be within their policy's limits;
- no renewal goes past ``max_renewals`` (item 14). Moving ``expires`` later is a renewal even
  when other fields change too, so touching the reason can't reset the count;
- unless the PR only removes entries (which tightens the rules), the head commit is approved by
  ``required_approvals`` code owners of the file, per the CODEOWNERS of the base (last matching
  rule wins; a rule without owners leaves the file unowned; errors GitHub reports on a rule that
  matches the file fail closed). An approval counts only if it is the reviewer's latest
  opinionated review, on the head commit, by an owner (teams resolved) who is neither the
  author, nor an author or committer of one of the PR's commits, nor a co-author that a
  ``Co-authored-by:`` line of one of them credits, nor a bot (items 3, 4, 5, 22).

On GitLab (``codeowners_flavor``) every required CODEOWNERS section that owns the file approves
on its own; ``@@role`` owners are the project's direct members with exactly that role; and where
GitLab has approval rules of its own (Premium, Ultimate), each of its code-owner rules that covers
the file must be met as well: an addition to the bot's head-bound count, never a substitute.

When only an unresolvable team (``team_members`` answering ``None``) stands between the PR and
success, the verdict is ``pending``, never ``success``. Every reason names what is missing in
words for people; the summary renders them with the report's Markdown escaping (``md``), so no
login or text from the repository can mention anyone, link an issue or forge the hidden marker.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from codeowners import CodeOwners, path_to_regex

from bot.engine.model import EvalError, Policy
from bot.exemptions import ExemptionsFile, Problem, gitlab_codeowners, parse, validate
from bot.repoconfig import CONFIG_PATH, Loosening, RepoConfig
from bot.report.markdown import MAX_SUMMARY, code, md
from bot.report.text import count, plain

EXCEPTIONS_PATH = ".compliance/exceptions.yaml"
CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's order
MARKER = "<!-- compliance-bot:exception-review -->"
CODEOWNERS_MAX_BYTES = 3 * 1024 * 1024  # GitHub does not load a larger CODEOWNERS file
SHORT_SHA = 7


@dataclass(frozen=True)
class ReviewRecord:
    """One PR review, as the forge lists them (chronological order)."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str | None
    submitted_at: datetime | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class CodeownersError:
    """A line of CODEOWNERS the forge could not use (GitHub's ``codeowners/errors``)."""

    path: str
    line: int
    message: str
    kind: str = ""


@dataclass(frozen=True)
class CoAuthor:
    """A person a ``Co-authored-by: Name <email>`` line of one of the PR's commits credits."""

    name: str
    email: str
    commit: str  # the SHA of the commit whose message credits them
    login: str | None = None  # when the forge can tell from the email alone (its noreply form)


@dataclass(frozen=True)
class Profile:
    """The public name and email a forge shows for a login (either may be unset)."""

    login: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ReviewFacts:
    pr_number: int
    author: str
    head_sha: str
    changed_paths: tuple[str, ...]  # every path the PR changes (merge base -> head)
    commit_people: tuple[str, ...]  # logins of the authors and committers of the PR's commits
    base_exceptions_text: str | None  # the file at the base commit (None: absent)
    head_exceptions_text: str | None  # the file at the head commit (None: deleted)
    codeowners_path: str | None  # which CODEOWNERS file of the base applies (search order)
    codeowners_text: str | None
    codeowners_errors: tuple[CodeownersError, ...] = ()
    reviews: tuple[ReviewRecord, ...] = ()
    co_authors: tuple[CoAuthor, ...] = ()  # credited by the messages of the PR's commits
    codeowners_flavor: Literal["github", "gitlab"] = "github"  # whose CODEOWNERS semantics


# Team resolution: (org, team slug) -> the team's active members, or None when it can't be
# resolved (API error, no permission): then the verdict is pending, never success.
TeamMembers = Callable[[str, str], "frozenset[str] | None"]
# How many times an exception id has been renewed already (from the ledger).
RenewalCount = Callable[[str], int]
# A reviewer's public profile, to tell whether a co-author is them; None when it can't be read,
# and then an approval by them does not count while the PR credits any co-author.
Profiles = Callable[[str], "Profile | None"]
# GitLab role owners: a role ("developer", "maintainer", "owner") -> the project's direct members
# holding exactly that role, or None when the forge can't list them (then the section can't pass).
RoleMembers = Callable[[str], "frozenset[str] | None"]


@dataclass(frozen=True)
class ApprovalRule:
    """A rule of the forge's own approval gate on the PR, and whether it is met, as the forge
    reports it (GitLab's ``approval_state``, Premium and Ultimate). ``kind`` is GitLab's
    ``rule_type``; a ``code_owner`` rule is named by its CODEOWNERS pattern."""

    name: str
    kind: str  # code_owner, regular, any_approver, report_approver
    approved: bool
    section: str | None = None  # a code_owner rule's CODEOWNERS section ("codeowners": unnamed)
    approvals_required: int = 0
    approved_by: tuple[str, ...] = ()


# The forge's own approval rules on the PR; None when it has none to give (GitLab Free or CE).
# Asked only under GitLab's CODEOWNERS semantics, and only as a requirement on top of the bot's.
ApprovalRules = Callable[[], "Sequence[ApprovalRule] | None"]


def _no_role_members(role: str) -> frozenset[str] | None:
    return None


def _no_approval_rules() -> Sequence[ApprovalRule] | None:
    return None


Conclusion = Literal["success", "failure", "pending"]


@dataclass(frozen=True)
class ReviewAnnotation:
    path: str
    line: int
    level: Literal["notice", "warning", "failure"]
    message: str


@dataclass(frozen=True)
class EntryChange:
    """An entry the PR adds, changes or removes; ``renewal`` when ``expires`` moved later.

    A renewal may change other fields too: it is still counted against ``max_renewals``.
    """

    id: str
    kind: Literal["added", "changed", "removed"]
    content_hash: str | None  # of the head version (None for removed)
    renewal: bool = False
    line: int | None = None  # in the head file
    policy: str | None = None  # of the head version (the base version for removed)
    expires: str | None = None  # as written in the head file (the base file for removed)
    previous_expires: str | None = None  # as written in the base file, for changed entries


@dataclass(frozen=True)
class ReviewVerdict:
    conclusion: Conclusion
    title: str  # one line for the check run title
    summary: str  # markdown, starting with <!-- compliance-bot:exception-review -->
    reasons: tuple[str, ...]  # each thing that is missing or wrong, in words for people
    approvers: tuple[str, ...]  # code owners whose approval counts
    changes: tuple[EntryChange, ...] = ()
    annotations: tuple[ReviewAnnotation, ...] = field(default_factory=tuple)
    capped: tuple[str, ...] = ()  # exceptions this PR would renew past ``max_renewals``
    loosenings: tuple[str, ...] = ()  # a config review: how the PR relaxes the config


# -- reviews -------------------------------------------------------------------------------------

_NO_OPINION = frozenset({"COMMENTED", "PENDING"})


def latest_reviews(reviews: Iterable[ReviewRecord]) -> dict[str, ReviewRecord]:
    """Each reviewer's latest opinionated review, keyed by lower-cased login, in review order.

    ``COMMENTED`` and ``PENDING`` reviews change nobody's standing (as GraphQL's
    ``latestOpinionatedReviews``); a later ``APPROVED``, ``CHANGES_REQUESTED`` or ``DISMISSED``
    replaces an earlier one. ``reviews`` must be in chronological order, as the forge lists them.
    """
    latest: dict[str, ReviewRecord] = {}
    for record in reviews:
        if record.state.upper() in _NO_OPINION or not record.login:
            continue
        key = record.login.lower()
        latest.pop(key, None)  # keep the dict in the order of each reviewer's latest review
        latest[key] = record
    return latest


def is_bot_login(record: ReviewRecord) -> bool:
    """A bot account: flagged by the forge, or a GitHub App's ``name[bot]`` login."""
    return record.is_bot or record.login.lower().endswith("[bot]")


# -- co-authors ----------------------------------------------------------------------------------

# GitHub credits a co-author for a "Co-authored-by: Name <email>" line anywhere in a commit
# message, key in any case, not only in git's trailer block (the last paragraph); so does this,
# line-anchored, and it also allows blanks before the key or the colon. Reading more lines as
# co-authors can only stop an approval from counting, never make one count.
_CO_AUTHORED_BY = re.compile(r"[ \t]*co-authored-by[ \t]*:(?P<value>.*)", re.IGNORECASE)
_NAME_EMAIL = re.compile(r"(?P<name>[^<]*)<(?P<email>[^>]*)>")


def co_authors_in(message: str) -> list[tuple[str, str]]:
    """The ``(name, email)`` of each co-author a commit message credits, in order, once each.

    ``email`` is empty when the line gives none (GitHub then credits nobody, but the name may
    still be a reviewer's).
    """
    found: list[tuple[str, str]] = []
    for line in message.splitlines():
        match = _CO_AUTHORED_BY.match(line)
        if match is None:
            continue
        value = match["value"].strip()
        pair = _NAME_EMAIL.match(value)
        person = (pair["name"].strip(), pair["email"].strip()) if pair else (value, "")
        if any(person) and person not in found:
            found.append(person)
    return found


def _same_name(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return " ".join(name.strip().strip('"').split()).casefold()

    return bool(norm(a)) and norm(a) == norm(b)


def is_co_author(co_author: CoAuthor, login: str, profile: Profile | None = None) -> bool:
    """Whether a ``Co-authored-by:`` line names the reviewer ``login``.

    It does when the forge read ``login`` from its email, when its name is the login, or, with
    the reviewer's public ``profile``, when its email is the profile's email or its name the
    profile's name (case-insensitive; names with blanks collapsed). A private email the forge
    doesn't show can't be matched; a name shared by two people blocks both, which only stops
    an approval from counting.
    """
    if co_author.login and co_author.login.casefold() == login.casefold():
        return True
    if _same_name(co_author.name, login):
        return True
    if profile is None:
        return False
    email = co_author.email.strip().casefold()
    if email and email == (profile.email or "").strip().casefold():
        return True
    return _same_name(co_author.name, profile.name or "")


# -- CODEOWNERS ----------------------------------------------------------------------------------

_INLINE_COMMENT = re.compile(r"\s#.*$")


@dataclass(frozen=True)
class CodeownersRule:
    """The CODEOWNERS rule that owns a path: GitHub's last matching line."""

    source: str  # the CODEOWNERS file it is in
    line: int
    pattern: str
    users: tuple[str, ...] = ()  # logins, without '@'
    teams: tuple[tuple[str, str], ...] = ()  # (org, slug)
    emails: tuple[str, ...] = ()
    # GitLab: a plain ``@name`` is a username or a top-level group; tried as a group too
    users_may_be_groups: bool = False
    section: str | None = None  # GitLab: the section this rule is in ("" unnamed)
    roles: tuple[str, ...] = ()  # GitLab: "developer", "maintainer", "owner" (``@@role``)

    @property
    def has_logins(self) -> bool:
        return bool(self.users or self.teams or self.roles)


def code_owners_rule(
    text: str | None,
    source: str | None,
    errors: Sequence[CodeownersError] = (),
    path: str = EXCEPTIONS_PATH,
) -> tuple[CodeownersRule | None, list[str]]:
    """The rule that owns ``path`` and, when it can't be trusted, why (fail closed).

    Inline comments are removed first (the ``codeowners`` package would read ``@x`` in
    ``# ask @x`` as an owner). A line whose pattern can't be read, or that GitHub reports as an
    error, is one GitHub skips: if it matches ``path``, or can't be read and comes after the
    matching line, the owners GitHub uses may differ from the ones read here.
    """
    where = source or "CODEOWNERS"
    if text is None:
        return None, [
            "the base branch has no CODEOWNERS file (looked for "
            + ", ".join(CODEOWNERS_LOCATIONS)
            + f"), so {path} has no code owners to approve this"
        ]
    if len(text.encode("utf-8", "replace")) > CODEOWNERS_MAX_BYTES:
        return None, [f"{where} is larger than 3 MB, so GitHub does not load it"]

    lines, unreadable = _readable_lines(text)
    matches = list(CodeOwners("\n".join(lines)).matching_lines(path))
    matching = {line for _, line, _, _ in matches if line is not None}
    winner = matches[0] if matches else None
    winner_line = winner[1] if winner and winner[1] is not None else 0
    problems: list[str] = []
    for error in sorted(errors, key=lambda e: e.line):
        if source is not None and error.path.lstrip("/") != source:
            continue
        after = winner is None or error.line > winner_line
        if error.line in matching or (error.line in unreadable and after):
            what = f"{error.kind}: {error.message}" if error.kind else error.message
            problems.append(
                f"line {error.line} of {where} ({_line_text(text, error.line)}) has an error"
                f" GitHub reports ({what}) and may decide who owns {path}; GitHub skips such"
                " a line, so fix it on the default branch"
            )
    reported = {e.line for e in errors}
    for line, why in sorted(unreadable.items()):
        if line not in reported and (winner is None or line > winner_line):
            problems.append(
                f"line {line} of {where} ({_line_text(text, line)}) can't be read ({why}), so"
                f" the bot can't tell whether it owns {path}; fix it on the default branch"
            )
    if winner is None:
        problems.append(
            f"no rule in {where} covers {path}, so it has no code owners; add one on the"
            " default branch, e.g. '/.compliance/ @your-org/your-team'"
        )
        return None, problems
    owners, _, pattern, _ = winner
    line = winner_line
    rule = CodeownersRule(
        source=where,
        line=winner_line,
        pattern=pattern or "",
        users=tuple(name[1:] for kind, name in owners if kind == "USERNAME"),
        teams=tuple(_team(name) for kind, name in owners if kind == "TEAM"),
        emails=tuple(name for kind, name in owners if kind == "EMAIL"),
    )
    if not owners:
        problems.append(
            f"line {line} of {where} ('{pattern}') matches {path} but names no owners, which"
            " leaves the file unowned (GitHub does not fall back to an earlier rule); give it"
            " owners on the default branch"
        )
    elif not rule.has_logins:
        problems.append(
            f"the code owners of {path} (line {line} of {where}) are only email addresses"
            f" ({', '.join(rule.emails)}), which the bot can't match to the logins of reviewers;"
            " name them as @user or @org/team on the default branch"
        )
    return rule, problems


def code_owners_of(
    text: str, source: str, flavor: Literal["github", "gitlab"], path: str = EXCEPTIONS_PATH
) -> tuple[list[str], list[str]]:
    """The people and groups to ask for a review of ``path``: (logins, "org/team" names).

    GitHub: the last matching rule's users and teams. GitLab: the owners of every required
    section that covers it; a plain ``@name`` may be a user or a group, and is asked as a user.
    Asking is a courtesy: who may approve is decided by ``review``, not by this list.
    """
    if flavor == "gitlab":
        rules = gitlab_codeowners.rules_for(gitlab_codeowners.parse(text, source), path)
        names = [n for r in rules if not r.optional for n in r.owners.names]
        names = list(dict.fromkeys(names))
        return [n for n in names if "/" not in n], [n for n in names if "/" in n]
    owners = CodeOwners(text).of(path)
    return (
        [o.lstrip("@") for kind, o in owners if kind == "USERNAME"],
        [o.lstrip("@") for kind, o in owners if kind == "TEAM" and "/" in o],
    )


def _lines(text: str) -> list[str]:
    # GitHub counts lines by '\n' only; str.splitlines would also split at U+2028 and friends
    return [raw.removesuffix("\r") for raw in text.split("\n")]


def _readable_lines(text: str) -> tuple[list[str], dict[int, str]]:
    """Lines without inline comments, unreadable rules blanked (numbers kept), and why."""
    out: list[str] = []
    unreadable: dict[int, str] = {}
    for number, raw in enumerate(_lines(text), start=1):
        if len(raw.splitlines()) > 1:  # the package would see two lines where GitHub sees one
            unreadable[number] = "it contains a line or paragraph separator character"
            out.append("")
            continue
        line = raw.strip()
        if line and not line.startswith("#"):
            line = _INLINE_COMMENT.sub("", line)
        first = line.split(maxsplit=1)[0] if line else ""
        if first and not line.startswith("#") and not _is_section(line):
            try:
                path_to_regex(first)
            except (ValueError, re.error) as exc:
                unreadable[number] = str(exc)
                line = ""
        out.append(line)
    return out, unreadable


def _is_section(line: str) -> bool:
    # The package reads '[name]' lines as GitLab sections, not rules.
    return line.endswith("]") and (line.startswith("[") or line.startswith("^["))


def _line_text(text: str, number: int) -> str:
    lines = _lines(text)
    if 1 <= number <= len(lines):
        shown = plain(lines[number - 1].strip())
        return f"'{shown[:80]}…'" if len(shown) > 80 else f"'{shown}'"
    return "a line past the end of the file"


def _team(owner: str) -> tuple[str, str]:
    org, _, slug = owner[1:].partition("/")
    return org, slug


# -- entries -------------------------------------------------------------------------------------


def entry_changes(base: ExemptionsFile | None, head: ExemptionsFile | None) -> list[EntryChange]:
    """Entries added, changed or removed from ``base`` to ``head``, compared by id and content.

    An unusable base counts as empty, so every head entry is new and needs approval. An entry
    the head file drops for a problem is neither changed nor removed: the problem fails the check.
    """
    base_entries = {e.id: e for e in (base.entries if base else ())}
    head_entries = list(head.entries if head else ())
    out: list[EntryChange] = []
    for entry in head_entries:
        before = base_entries.get(entry.id)
        digest = entry.content_hash()
        if before is None:
            out.append(
                EntryChange(
                    entry.id,
                    "added",
                    digest,
                    line=entry.line,
                    policy=entry.policy,
                    expires=entry.expires_text,
                )
            )
        elif before.content_hash() != digest:
            out.append(
                EntryChange(
                    entry.id,
                    "changed",
                    digest,
                    renewal=entry.expires > before.expires,
                    line=entry.line,
                    policy=entry.policy,
                    expires=entry.expires_text,
                    previous_expires=before.expires_text,
                )
            )
    head_ids = {e.id for e in head_entries}
    dropped = set(head.dropped if head else ())
    for entry in base_entries.values():
        if entry.id not in head_ids and entry.id not in dropped:
            out.append(
                EntryChange(
                    entry.id, "removed", None, policy=entry.policy, expires=entry.expires_text
                )
            )
    return out


# -- the verdict ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Standing:
    """A reviewer's latest opinionated review and whether it counts."""

    login: str
    state: str
    commit_id: str | None
    counts: bool = False
    why: str = ""  # "code owner (...)" when it counts; else a sentence about the reviewer
    unresolved: bool = False  # would count if an unresolvable team's members were known
    undecided: bool = False  # not judged: the code owners themselves are unknown


@dataclass
class _Approval:
    needed: bool
    path: str = EXCEPTIONS_PATH  # the governed file whose code owners must approve
    rule: CodeownersRule | None = None
    rule_problems: list[str] = field(default_factory=list)
    standings: list[_Standing] = field(default_factory=list)
    required: int = 1
    unresolved_teams: list[str] = field(default_factory=list)
    # GitLab: every section that owns the file must approve; one _Approval per section
    sections: list[_Approval] = field(default_factory=list)
    # GitLab Premium: its own code-owner approval rules that cover the file, each of which must
    # be met too (never instead of the bot's own count: they are not bound to the head)
    gate: list[ApprovalRule] = field(default_factory=list)

    @property
    def approvers(self) -> list[str]:
        if self.sections:
            return list(dict.fromkeys(a for s in self.sections for a in s.approvers))
        return [s.login for s in self.standings if s.counts]

    @property
    def unmet_gate(self) -> list[ApprovalRule]:
        return [r for r in self.gate if not r.approved]

    @property
    def owners_satisfied(self) -> bool:
        """The bot's own requirement: enough code owners approved the head."""
        if self.sections:
            return all(s.satisfied for s in self.sections)
        return not self.needed or (not self.rule_problems and len(self.approvers) >= self.required)

    @property
    def satisfied(self) -> bool:
        return self.owners_satisfied and not self.unmet_gate

    @property
    def missing(self) -> int:
        """How many more code-owner approvals the bot's own requirement needs (at least 1)."""
        if self.sections:
            return max(1, sum(s.missing for s in self.sections if not s.owners_satisfied))
        return max(1, self.required - len(self.approvers))

    @property
    def could_be_satisfied(self) -> bool:
        """Enough approvals once the unresolvable teams' members are known."""
        if self.unmet_gate:
            return False
        if self.sections:
            return not self.rule_problems and all(
                s.satisfied or s.could_be_satisfied for s in self.sections
            )
        maybe = sum(1 for s in self.standings if s.unresolved)
        return not self.rule_problems and maybe > 0 and len(self.approvers) + maybe >= self.required


def review(
    facts: ReviewFacts,
    policies: Mapping[str, Policy],
    config: RepoConfig,
    now: datetime,
    team_members: TeamMembers,
    renewals: RenewalCount,
    *,
    profiles: Profiles,
    role_members: RoleMembers = _no_role_members,
    approval_rules: ApprovalRules = _no_approval_rules,
) -> ReviewVerdict:
    """Decide the exception-review check. See the module docstring and DESIGN §5.

    ``profiles`` is asked only about approving reviewers, and only when a commit credits a
    co-author whom the login alone does not match. ``role_members`` and ``approval_rules`` are
    asked only under GitLab's CODEOWNERS semantics (``_gitlab_approval``).
    """
    reasons: list[str] = []
    annotations: list[ReviewAnnotation] = []

    others = sorted(p for p in set(facts.changed_paths) if p != EXCEPTIONS_PATH)
    if others:
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if others[10:] else "")
        reasons.append(
            f"the pull request changes other files besides {EXCEPTIONS_PATH}: {shown};"
            " an exception pull request may change nothing else"
        )

    base = parse(facts.base_exceptions_text)[0] if facts.base_exceptions_text else None
    if facts.head_exceptions_text is None:  # deleted: every entry is removed
        head: ExemptionsFile | None = ExemptionsFile(1, ())
        head_problems: list[Problem] = []
    else:
        head, head_problems = parse(facts.head_exceptions_text)
    changes = entry_changes(base, head) if head is not None else []
    untouched = {e.id for e in (head.entries if head else ())} - {c.id for c in changes}

    problems = list(head_problems)
    stale: list[Problem] = []
    if head is not None:
        for problem in validate(head, policies, now, require_ticket=config.require_ticket):
            if problem.code == "expired" and problem.entry_id in untouched:
                stale.append(problem)
            else:
                problems.append(problem)
    problems.sort(key=lambda p: (p.line, p.message))
    reasons.extend(str(p) for p in problems)
    annotations.extend(ReviewAnnotation(p.source, p.line, "failure", p.message) for p in problems)
    annotations.extend(
        ReviewAnnotation(
            p.source,
            p.line,
            "warning",
            f"{p.message}; it no longer applies (this pull request does not change it):"
            " remove it, or let the bot's cleanup pull request do so",
        )
        for p in stale
    )

    head_entries = {e.id: e for e in (head.entries if head else ())}
    renewal_counts: dict[str, int] = {}
    capped: list[str] = []
    for change in changes:
        if not change.renewal:
            continue
        done = renewal_counts[change.id] = renewals(change.id)
        if done + 1 > config.max_renewals:
            message = (
                f"exception {change.id}: this would be renewal {done + 1}, but this repository"
                f" allows at most {config.max_renewals} (exceptions.max_renewals); fix the"
                " findings it covers instead of extending it again"
            )
            reasons.append(message)
            capped.append(change.id)
            entry = head_entries[change.id]
            annotations.append(
                ReviewAnnotation(EXCEPTIONS_PATH, entry.line_of("expires"), "failure", message)
            )

    removal_only = head is not None and bool(changes) and all(c.kind == "removed" for c in changes)
    approval = _approval(
        facts,
        config,
        team_members,
        profiles,
        needed=not removal_only,
        role_members=role_members,
        approval_rules=approval_rules,
    )
    conclusion = _conclude(reasons, approval)
    annotations.sort(key=lambda a: (a.line, a.level != "failure", a.message))
    verdict = ReviewVerdict(
        conclusion=conclusion,
        title=_title(conclusion, others, problems, capped, approval, facts),
        summary="",
        reasons=tuple(reasons),  # empty on success: nothing is missing
        approvers=tuple(approval.approvers) if approval.needed else (),
        changes=tuple(changes),
        annotations=tuple(annotations),
        capped=tuple(capped),
    )
    summary = _summary(
        verdict,
        facts,
        approval,
        others,
        problems,
        stale,
        capped,
        renewal_counts,
        config,
        unreadable=head is None,
    )
    return dataclasses.replace(verdict, summary=summary)


def _approval(
    facts: ReviewFacts,
    config: RepoConfig,
    team_members: TeamMembers,
    profiles: Profiles,
    *,
    needed: bool,
    path: str = EXCEPTIONS_PATH,
    given: tuple[CodeownersRule | None, list[str], int] | None = None,
    roles: Mapping[str, frozenset[str]] | None = None,
    role_members: RoleMembers = _no_role_members,
    approval_rules: ApprovalRules = _no_approval_rules,
) -> _Approval:
    """Who counts as an approving code owner of the head commit, and what stands in the way.

    ``given`` is the rule, its problems and the approvals it needs when the caller found them
    (a GitLab section, with its role owners' members in ``roles``, lower-cased); else GitHub's
    CODEOWNERS decides, with ``required_approvals``."""
    if facts.codeowners_flavor == "gitlab" and given is None and needed:
        return _gitlab_approval(
            facts, config, team_members, profiles, path, role_members, approval_rules
        )
    required = max(1, config.required_approvals)
    if given is not None:
        required = max(required, given[2])
    approval = _Approval(needed=needed, path=path, required=required)
    if not needed:
        return approval
    if given is not None:
        rule, rule_problems = given[0], list(given[1])
    else:
        rule, rule_problems = code_owners_rule(
            facts.codeowners_text, facts.codeowners_path, facts.codeowners_errors, path
        )
    approval.rule, approval.rule_problems = rule, rule_problems
    owners = {u.lower() for u in rule.users} if rule else set()
    author = facts.author.lower()
    people = {p.lower() for p in facts.commit_people}
    short = facts.head_sha[:SHORT_SHA]
    members: dict[tuple[str, str], frozenset[str] | None] = {}
    unresolved: set[str] = set()

    def membership(login: str) -> tuple[str | None, bool]:
        """The owning team, ``@@role`` (or ``"user"``) that makes ``login`` an owner; and
        unresolved?"""
        if login in owners:
            return "user", False
        for role in rule.roles if rule else ():
            if login in (roles or {}).get(role, frozenset()):
                return f"@@{role}", False
        unknown = False
        teams = list(rule.teams) if rule else []
        if rule is not None and rule.users_may_be_groups:
            teams += [(name, "") for name in rule.users]
        for org, slug in teams:
            key = (org.lower(), slug.lower())
            name = f"@{org}/{slug}" if slug else f"@{org}"
            if key not in members:
                found = team_members(org, slug)
                members[key] = None if found is None else frozenset(m.lower() for m in found)
            known = members[key]
            if known is None:
                unknown = True
                unresolved.add(name)
            elif login in known:
                return name, False
        return None, unknown

    def co_authorship(login: str) -> str | None:
        """Why ``login`` can't approve as a co-author of a commit; None when they aren't one."""
        if not facts.co_authors:
            return None
        credited = next((c for c in facts.co_authors if is_co_author(c, login)), None)
        if credited is None:
            profile = profiles(login)
            if profile is None:
                return (
                    f"@{login}'s profile could not be read, so the bot can't tell whether a"
                    " Co-authored-by trailer of this pull request names them"
                )
            credited = next((c for c in facts.co_authors if is_co_author(c, login, profile)), None)
        if credited is None:
            return None
        return (
            f"@{login} co-authored commit {credited.commit[:SHORT_SHA]} (Co-authored-by trailer)"
            " and can't approve it"
        )

    for key, record in latest_reviews(facts.reviews).items():
        state = record.state.upper()
        name = f"@{record.login}"
        if state != "APPROVED":
            why = {
                "CHANGES_REQUESTED": f"{name} requested changes",
                "DISMISSED": f"{name}'s review was dismissed",
            }.get(state, f"{name}'s latest review is {state.lower()}")
            approval.standings.append(_Standing(record.login, state, record.commit_id, why=why))
            continue
        unresolved_member = False
        if is_bot_login(record):
            why = f"{name} is a bot"
        elif key == author:
            why = f"{name} is the author"
        elif key in people:
            why = f"{name} authored or committed a commit of this pull request"
        elif (co_author := co_authorship(record.login)) is not None:
            why = co_author
        elif rule is None or rule_problems:
            why = f"{name}'s approval can't be counted until the code owners are known"
            approval.standings.append(
                _Standing(record.login, state, record.commit_id, why=why, undecided=True)
            )
            continue
        else:
            via, unresolved_member = membership(key)
            if via is None and not unresolved_member:
                why = f"{name} is not a code owner of {path}"
                if rule.emails:
                    why += " (owners given as email addresses can't be matched to logins)"
            elif not record.commit_id or record.commit_id.lower() != facts.head_sha.lower():
                unresolved_member = False
                why = (
                    f"{name}'s approval predates commit {short}"
                    if record.commit_id
                    else f"{name}'s approval is on a commit that no longer exists"
                )
            elif via is None:
                teams = ", ".join(f"@{o}/{s}" for o, s in rule.teams)
                why = f"{name}'s membership of {teams} could not be checked"
            else:
                owner = "code owner" if via == "user" else f"code owner (member of {via})"
                if via.startswith("@@"):
                    owner = f"code owner (a direct {via[2:].title()} of the project, {via})"
                approval.standings.append(
                    _Standing(record.login, state, record.commit_id, counts=True, why=owner)
                )
                continue
        approval.standings.append(
            _Standing(record.login, state, record.commit_id, why=why, unresolved=unresolved_member)
        )
    approval.unresolved_teams = sorted(unresolved)
    return approval


def _gitlab_approval(
    facts: ReviewFacts,
    config: RepoConfig,
    team_members: TeamMembers,
    profiles: Profiles,
    path: str,
    role_members: RoleMembers,
    approval_rules: ApprovalRules,
) -> _Approval:
    """GitLab: each section of CODEOWNERS that owns ``path`` (optional ``^[...]`` sections
    aside) must be approved by its own owners, as many as its ``[N]`` (and at least
    ``required_approvals``). A problem on a line that may decide the owners fails closed.

    Role owners (``@@maintainer``) are the project's direct members with exactly that role
    (``role_members``); when the forge can't list them, the section can't pass. Where GitLab
    has approval rules of its own (Premium: ``approval_rules`` answers), every code-owner rule
    that covers ``path`` must be met as well, on top of the bot's own count, never instead of it.
    """
    approval = _gitlab_sections(facts, config, team_members, profiles, path, role_members)
    rules = approval_rules()
    if rules is not None:
        approval.gate = [
            r for r in rules if r.kind == "code_owner" and _covers(r, path, facts.changed_paths)
        ]
    return approval


def _covers(rule: ApprovalRule, path: str, changed: Sequence[str]) -> bool:
    """Whether a code-owner rule GitLab made for this PR covers ``path``: its pattern (the
    rule's name) matches it, or matches none of the changed paths (then which file it is for
    can't be told, and it counts: fail closed)."""
    if gitlab_codeowners.pattern_matches(rule.name, path):
        return True
    return not any(gitlab_codeowners.pattern_matches(rule.name, p) for p in changed)


def _gitlab_sections(
    facts: ReviewFacts,
    config: RepoConfig,
    team_members: TeamMembers,
    profiles: Profiles,
    path: str,
    role_members: RoleMembers,
) -> _Approval:
    where = facts.codeowners_path or "CODEOWNERS"
    whole = _Approval(needed=True, path=path, required=max(1, config.required_approvals))
    if facts.codeowners_text is None:
        whole.rule_problems = [
            "the target branch has no CODEOWNERS file (looked for "
            + ", ".join(gitlab_codeowners.LOCATIONS)
            + f"), so {path} has no code owners to approve this"
        ]
        return whole
    parsed = gitlab_codeowners.parse(facts.codeowners_text, where)
    problems = [
        f"line {p.line} of {where}: {p.message}; GitLab may read the owners of {path}"
        " differently, so fix it on the target branch"
        if p.line
        else f"{where}: {p.message}"
        for p in gitlab_codeowners.problems_for(parsed, path)
    ]
    rules = [r for r in gitlab_codeowners.rules_for(parsed, path) if not r.optional]
    if not rules:
        whole.rule_problems = [
            *problems,
            f"no section of {where} covers {path}, so it has no code owners; add one on the"
            " target branch, e.g. '[Compliance]' then '/.compliance/ @your-group/security'",
        ]
        return whole
    known: dict[str, frozenset[str] | None] = {}  # one question per role and evaluation
    for found in rules:
        rule = CodeownersRule(
            source=where,
            line=found.line,
            pattern=found.pattern,
            users=tuple(n for n in found.owners.names if "/" not in n),
            teams=tuple(_team("@" + n) for n in found.owners.names if "/" in n),
            emails=found.owners.emails,
            users_may_be_groups=True,
            section=found.section,
            roles=found.owners.roles,
        )
        mine = list(problems)
        for role in found.owners.roles:
            if role not in known:
                members = role_members(role)
                known[role] = None if members is None else frozenset(m.lower() for m in members)
        unknown = [f"@@{r}" for r in found.owners.roles if known[r] is None]
        if unknown:
            mine.append(
                f"line {found.line} of {where} names role owners ({', '.join(unknown)}), whose"
                " members (the project's direct members with that role) could not be listed, so"
                " approvals through them can't be counted; make sure the bot's token can read"
                " the project's members, or name people or groups for this section"
            )
        resolved = {r: m for r, m in known.items() if m is not None}
        whole.sections.append(
            _approval(
                facts,
                config,
                team_members,
                profiles,
                needed=True,
                path=path,
                given=(rule, mine, found.approvals),
                roles=resolved,
            )
        )
    if len(whole.sections) == 1:
        return whole.sections[0]
    whole.rule_problems = list(dict.fromkeys(p for s in whole.sections for p in s.rule_problems))
    whole.unresolved_teams = sorted({t for s in whole.sections for t in s.unresolved_teams})
    return whole


def _owners_phrase(rule: CodeownersRule) -> str:
    parts = [f"a member of @{org}/{slug}" for org, slug in rule.teams]
    parts += [f"@{user}" for user in rule.users]
    if rule.users_may_be_groups and rule.users:
        parts[-1] += " (or a member of such a group)"
    parts += [f"a direct {role.title()} of the project (@@{role})" for role in rule.roles]
    return " or ".join(parts)


def _gate_section(rule: ApprovalRule) -> str | None:
    """The CODEOWNERS section a GitLab rule is for, in words; None when GitLab doesn't say."""
    if rule.section is None:
        return None
    # GitLab's internal name for the entries before any header (section.rb)
    unnamed = rule.section.casefold() in ("", "codeowners")
    return "the unnamed section" if unnamed else f"section {rule.section}"


def _gate_reason(rule: ApprovalRule) -> str:
    section = _gate_section(rule)
    where = f" ({section})" if section else ""
    given = len(rule.approved_by)
    counted = f"{given} of {rule.approvals_required}" if rule.approvals_required else f"{given}"
    return (
        f"GitLab's code-owner approval rule '{rule.name}'{where} is not approved"
        f" ({counted} approvals): GitLab's own rule must be met as well"
    )


def _conclude(reasons: list[str], approval: _Approval) -> Conclusion:
    """The verdict from what is wrong (``reasons``, extended here with what the approval lacks):
    anything wrong fails; only an unresolvable team between the PR and success leaves it pending."""
    blocking = bool(reasons)
    approval_reasons = _approval_reasons(approval)
    reasons.extend(approval_reasons)
    if blocking or (approval_reasons and not approval.could_be_satisfied):
        return "failure"
    return "success" if approval.satisfied else "pending"


def _approval_reasons(approval: _Approval) -> list[str]:
    """What is missing for the approval requirement, one sentence each; empty when satisfied."""
    if approval.satisfied:
        return []
    gate = [_gate_reason(r) for r in approval.unmet_gate]
    if approval.owners_satisfied:
        return gate
    if approval.sections:
        out = [*approval.rule_problems, *gate]
        for part in approval.sections:
            name = (part.rule.section if part.rule else None) or "the unnamed section"
            out.extend(
                f"section {name}: {r}"
                for r in _approval_reasons(part)
                if r not in approval.rule_problems
            )
        return list(dict.fromkeys(out))
    out = [*approval.rule_problems, *gate]
    rule = approval.rule
    if rule is not None and rule.has_logins:
        have = len(approval.approvers)
        owners = _owners_phrase(rule)
        if approval.required == 1:
            out.append(f"needs an approval from {owners}")
        else:
            counted = f": {', '.join('@' + a for a in approval.approvers)}" if have else ""
            out.append(
                f"needs {count(approval.required - have, 'more approval')} from {owners}"
                f" ({approval.required} required, {have} counted{counted})"
            )
    if approval.unresolved_teams:
        out.append(
            f"the members of {', '.join(approval.unresolved_teams)} could not be resolved"
            " (the forge did not answer), so approvals through that team can't be counted yet"
        )
    out.extend(s.why for s in approval.standings if not s.counts and not s.undecided)
    return out


# -- text ----------------------------------------------------------------------------------------


def _title(
    conclusion: Conclusion,
    others: list[str],
    problems: list[Problem],
    capped: list[str],
    approval: _Approval,
    facts: ReviewFacts,
) -> str:
    """One line without repository text (logins, paths), so a title can't be used to mislead."""
    short = facts.head_sha[:SHORT_SHA]
    if conclusion == "success":
        if not approval.needed:
            return "Passed: only removes exceptions, no approval needed"
        return f"Passed: {count(len(approval.approvers), 'code-owner approval')} on {short}"
    if conclusion == "pending":
        return "Pending: a code-owner team's members could not be resolved"
    parts = []
    if others:
        parts.append(f"{count(len(others), 'other file')} changed")
    if problems:
        parts.append(count(len(problems), "problem") + " in the exceptions file")
    if capped:
        parts.append(count(len(capped), "exception") + " at the renewal limit")
    if approval.rule_problems:
        parts.append("code owners of the exceptions file unknown")
    elif approval.needed and not approval.owners_satisfied:
        parts.append(f"needs {count(approval.missing, 'code-owner approval')} on {short}")
    parts.extend(_gate_title(approval))
    return "Failed: " + "; ".join(parts)


def _gate_title(approval: _Approval) -> list[str]:
    unmet = len(approval.unmet_gate)
    return [f"{count(unmet, 'GitLab code-owner approval rule')} not approved"] if unmet else []


def _person(login: str) -> str:
    return md(f"@{login}", 120)


def _table(*columns: str) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _capped(rows: list[str], limit: int, more: str) -> list[str]:
    if len(rows) <= limit:
        return rows
    return [*rows[:limit], "", f"… and {len(rows) - limit} more {more}"]


_VERDICTS = {
    "success": "✅ **Exception review passed**",
    "failure": "❌ **Exception review failed**",
    "pending": "⏳ **Exception review pending**",
}


def _summary(
    verdict: ReviewVerdict,
    facts: ReviewFacts,
    approval: _Approval,
    others: list[str],
    problems: list[Problem],
    stale: list[Problem],
    capped: list[str],
    renewal_counts: Mapping[str, int],
    config: RepoConfig,
    *,
    unreadable: bool,
) -> str:
    short = code(facts.head_sha[:SHORT_SHA])
    if verdict.conclusion == "success" and not approval.needed:
        line = (
            ": this pull request only removes exceptions, which tightens the rules, so it"
            " needs no code-owner approval from this check."
        )
    elif verdict.conclusion == "success":
        who = ", ".join(_person(a) for a in approval.approvers)
        owners = "code owner" if len(approval.approvers) == 1 else "code owners"
        line = f": the head commit {short} is approved by {owners} {who}."
    elif verdict.conclusion == "pending":
        line = ": waiting until the members of a code-owner team can be resolved (see below)."
    else:
        line = f": {count(len(verdict.reasons), 'thing')} to fix (see below)."
    sections = [f"{MARKER}\n{_VERDICTS[verdict.conclusion]}{line}"]

    if verdict.reasons:
        items = [f"- {md(r, 1000)}" for r in verdict.reasons]
        sections.append(
            "### What is missing\n\n" + "\n".join(_capped(items, 40, "(see the annotations)"))
        )

    sections.append(_changes_section(verdict.changes, renewal_counts, config, unreadable))
    sections.append(_approvals_section(approval, facts))

    if problems:
        rows = [_row(code(f"{p.source}:{p.line}"), md(p.message, 500)) for p in problems]
        sections.append(
            f"### Problems in {code(EXCEPTIONS_PATH)} ({len(problems)})\n\n"
            + "\n".join(_capped([*_table("Line", "Problem"), *rows], 52, "(see the annotations)"))
        )

    notes = [
        f"- {code(f'{p.source}:{p.line}')}: {md(p.message, 500)}; this pull request does not"
        " change it, and it no longer applies: remove it, or let the bot's cleanup pull"
        " request do so."
        for p in stale
    ]
    rule = approval.rule
    if approval.needed and rule is not None and rule.emails and rule.has_logins:
        emails = ", ".join(md(e, 100) for e in rule.emails)
        notes.append(
            f"- Owners given as email addresses ({emails}) can't be matched to reviewers'"
            " logins, so their approvals are not counted; name them as @user or @org/team."
        )
    if notes:
        sections.append("### Notes\n\n" + "\n".join(_capped(notes, 20, "expired exceptions")))

    steps = _next_steps(verdict, facts, approval, others, problems, capped)
    if steps:
        sections.append("### What to do next\n\n" + "\n".join(f"- {s}" for s in steps))
    return _joined(sections)


def _joined(sections: list[str]) -> str:
    text = "\n\n".join(sections) + "\n"
    if len(text.encode("utf-8")) > MAX_SUMMARY:  # GitHub's cap: keep the head, say it's cut
        cut = text.encode("utf-8")[: MAX_SUMMARY - 200].decode("utf-8", "ignore")
        text = cut.rsplit("\n", 1)[0] + "\n\n… (shortened: see the annotations)\n"
    return text


def _changes_section(
    changes: Sequence[EntryChange],
    renewal_counts: Mapping[str, int],
    config: RepoConfig,
    unreadable: bool,
) -> str:
    title = f"### Changes ({len(changes)})"
    if unreadable:
        return f"{title}\n\nThe head {code(EXCEPTIONS_PATH)} can't be read (see Problems)."
    if not changes:
        return f"{title}\n\nNo exception entry changes (only comments or formatting)."
    rows = []
    for c in changes:
        kind: str = c.kind
        if c.renewal:
            n = renewal_counts.get(c.id, 0) + 1
            kind = f"renewal ({n} of at most {config.max_renewals})"
        expires = md(c.expires or "", 40)
        if c.previous_expires and c.previous_expires != c.expires:
            expires += f" (was {md(c.previous_expires, 40)})"
        rows.append(_row(code(c.id), code(c.policy or "?"), kind, expires))
    body = _capped([*_table("Exception", "Policy", "Kind", "Expires"), *rows], 102, "changes")
    return title + "\n\n" + "\n".join(body)


def _approvals_section(approval: _Approval, facts: ReviewFacts) -> str:
    title = "### Approvals"
    if not approval.needed:
        return f"{title}\n\nNot needed: removing exceptions only tightens the rules."
    parts = [title]
    rule = approval.rule
    if rule is not None:
        owners = [f"@{o}/{s}" for o, s in rule.teams] + [f"@{u}" for u in rule.users]
        owners += [f"@@{r}" for r in rule.roles] + list(rule.emails)
        named = ", ".join(_person(o[1:]) if o.startswith("@") else md(o, 100) for o in owners)
        parts.append(
            f"Code owners of {code(approval.path)}: {named or 'none'} (the rule"
            f" {code(rule.pattern)} on line {rule.line} of {code(rule.source)})."
        )
    parts.append(
        f"Required: {count(approval.required, 'approval')} of the head commit"
        f" {code(facts.head_sha[:SHORT_SHA])} by code owners who are not the author, did not"
        " author or commit to this pull request, and are not bots."
        f" Counted: {len(approval.approvers)}."
    )
    if approval.standings:
        rows = []
        for s in approval.standings:
            if s.state == "APPROVED":
                state = f"approved {code((s.commit_id or 'unknown')[:SHORT_SHA])}"
            else:
                state = s.state.lower().replace("_", " ")
            counts = "✅ yes" if s.counts else ("⏳ unknown" if s.unresolved else "❌ no")
            rows.append(_row(_person(s.login), state, counts, md(s.why, 300)))
        parts.append(
            "\n".join(
                _capped(
                    [*_table("Reviewer", "Latest review", "Counts", "Why"), *rows], 52, "reviewers"
                )
            )
        )
    else:
        parts.append("No reviews yet.")
    if approval.gate:
        header = _table("Rule", "CODEOWNERS", "Approved", "Approvals")
        rows = [
            _row(
                code(r.name),
                md(_gate_section(r) or "", 100),
                "✅ yes" if r.approved else "❌ no",
                f"{len(r.approved_by)} of {r.approvals_required}",
            )
            for r in approval.gate
        ]
        parts.append(
            f"GitLab's own code-owner approval rules that cover {code(approval.path)} must be"
            " met as well (they are not tied to a commit, so they never replace the count"
            " above):\n\n" + "\n".join(_capped([*header, *rows], 22, "rules"))
        )
    return "\n\n".join(parts)


def _next_steps(
    verdict: ReviewVerdict,
    facts: ReviewFacts,
    approval: _Approval,
    others: list[str],
    problems: list[Problem],
    capped: list[str],
) -> list[str]:
    if verdict.conclusion == "success":
        return []
    steps = []
    exceptions = code(EXCEPTIONS_PATH)
    if others:
        steps.append(
            f"Move the changes to other files into a separate pull request: this one may change"
            f" only {exceptions}."
        )
    if problems:
        steps.append(f"Fix {exceptions} at the lines under Problems (also shown as annotations).")
    if capped:
        ids = ", ".join(code(c) for c in capped)
        steps.append(
            f"{ids} reached the renewal limit and can't be extended again: fix the findings"
            " it covers, or undo the change to its `expires`."
        )
    steps.extend(_approval_steps(verdict, facts, approval))
    return steps


def _approval_steps(verdict: ReviewVerdict, facts: ReviewFacts, approval: _Approval) -> list[str]:
    governed = code(approval.path)
    steps = []
    if approval.rule_problems:
        steps.append(
            "Fix the CODEOWNERS file on the default branch so that one rule with owners"
            f" covers {governed} (for example `/.compliance/ @your-org/your-team`); the"
            " bot reads CODEOWNERS from the base branch, never from this pull request."
        )
    elif approval.needed and not approval.owners_satisfied and verdict.conclusion != "pending":
        steps.append(
            f"Ask a code owner of {governed} who did not author or commit to this pull"
            f" request to approve the head commit {code(facts.head_sha[:SHORT_SHA])}; an"
            " approval of an earlier commit does not count after a push."
        )
    if approval.unmet_gate:
        steps.append(
            "Get GitLab's code-owner approval rules listed under Approvals approved on the"
            " merge request too: GitLab's own rules are required on top of the bot's count."
        )
    if approval.unresolved_teams and verdict.conclusion == "pending":
        steps.append(
            "The check is run again when a review or the pull request changes; if it stays"
            " pending, make sure the App may read team membership (organization members: read)."
        )
    return steps


# -- a pull request that loosens the config ------------------------------------------------------

_CONFIG_VERDICTS = {
    "success": "✅ **Config review passed**",
    "failure": "❌ **Config review failed**",
    "pending": "⏳ **Config review pending**",
}


def review_config(
    facts: ReviewFacts,
    loosened: Sequence[Loosening],
    head_errors: Sequence[EvalError],
    config: RepoConfig,
    team_members: TeamMembers,
    *,
    profiles: Profiles,
    role_members: RoleMembers = _no_role_members,
    approval_rules: ApprovalRules = _no_approval_rules,
) -> ReviewVerdict:
    """The review check for a PR that loosens ``.compliance/config.yaml`` (attack 21).

    An exclusion, a dropped pack or ``enforce`` entry, a lowered limit is an opt-out like an
    exception, so the same rules hold: the PR changes nothing but the config, the new config is
    valid, and ``required_approvals`` code owners of the config file (per the base's CODEOWNERS
    and ``config``, the base's: a PR can't lower the bar it is judged by) approve the head.
    A config with errors fails too: merged, it would fail every check on the branch.
    """
    reasons: list[str] = []
    annotations: list[ReviewAnnotation] = []
    others = sorted(p for p in set(facts.changed_paths) if p != CONFIG_PATH)
    if others:
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if others[10:] else "")
        reasons.append(
            f"the pull request loosens {CONFIG_PATH} and changes other files too: {shown};"
            " a pull request that loosens the config may change nothing else"
        )
    for error in head_errors:
        reasons.append(f"{CONFIG_PATH} line {error.line or 1}: {error.message}")
        annotations.append(ReviewAnnotation(CONFIG_PATH, error.line or 1, "failure", error.message))
    for item in loosened:
        annotations.append(
            ReviewAnnotation(
                CONFIG_PATH,
                item.line or 1,
                "warning",
                f"this {item.message}: it needs a code owner's approval, like an exception",
            )
        )
    approval = _approval(
        facts,
        config,
        team_members,
        profiles,
        needed=bool(loosened),
        path=CONFIG_PATH,
        role_members=role_members,
        approval_rules=approval_rules,
    )
    conclusion = _conclude(reasons, approval)
    short = facts.head_sha[:SHORT_SHA]
    if conclusion == "success":
        title = (
            f"Passed: config loosening approved by"
            f" {count(len(approval.approvers), 'code owner')} on {short}"
        )
    elif conclusion == "pending":
        title = "Pending: a code-owner team's members could not be resolved"
    else:
        parts = []
        if others:
            parts.append(f"{count(len(others), 'other file')} changed")
        if head_errors:
            parts.append(count(len(head_errors), "problem") + " in the config")
        if approval.rule_problems:
            parts.append("code owners of the config unknown")
        elif approval.needed and not approval.owners_satisfied:
            missing = count(approval.missing, "code-owner approval")
            parts.append(f"loosens the config; needs {missing}")
        parts.extend(_gate_title(approval))
        title = "Failed: " + "; ".join(parts)
    annotations.sort(key=lambda a: (a.line, a.level != "failure", a.message))
    verdict = ReviewVerdict(
        conclusion=conclusion,
        title=title,
        summary="",
        reasons=tuple(reasons),
        approvers=tuple(approval.approvers) if approval.needed else (),
        annotations=tuple(annotations),
        loosenings=tuple(item.message for item in loosened),
    )
    return dataclasses.replace(
        verdict, summary=_config_summary(verdict, facts, approval, loosened, others)
    )


def _config_summary(
    verdict: ReviewVerdict,
    facts: ReviewFacts,
    approval: _Approval,
    loosened: Sequence[Loosening],
    others: list[str],
) -> str:
    config = code(CONFIG_PATH)
    if verdict.conclusion == "success":
        who = ", ".join(_person(a) for a in approval.approvers)
        line = (
            f": the head commit {code(facts.head_sha[:SHORT_SHA])} is approved by"
            f" {count(len(approval.approvers), 'code owner')} ({who})."
        )
    elif verdict.conclusion == "pending":
        line = ": waiting until the members of a code-owner team can be resolved (see below)."
    else:
        line = f": {count(len(verdict.reasons), 'thing')} to fix (see below)."
    sections = [f"{MARKER}\n{_CONFIG_VERDICTS[verdict.conclusion]}{line}"]
    sections.append(
        f"This pull request changes {config} in ways that relax the rules. An exclusion, a"
        " dropped pack or enforced policy, a lowered limit is an opt-out like an exception, so"
        " it needs the approval an exception would."
    )
    if verdict.reasons:
        items = [f"- {md(r, 1000)}" for r in verdict.reasons]
        sections.append("### What is missing\n\n" + "\n".join(_capped(items, 40, "reasons")))
    if loosened:
        rows = [
            _row(code(f"{CONFIG_PATH}:{item.line}") if item.line else config, md(item.message, 300))
            for item in loosened
        ]
        sections.append(
            f"### What it loosens ({len(loosened)})\n\n"
            + "\n".join(_capped([*_table("Where", "Change"), *rows], 52, "changes"))
        )
    sections.append(_approvals_section(approval, facts))
    steps = []
    if verdict.conclusion != "success":
        if others:
            steps.append(
                f"Move the changes to other files into a separate pull request: this one may"
                f" change only {config}. (The config is read from the base branch, so files"
                " that rely on a new exclusion pass once this one has merged.)"
            )
        if any(r.startswith(f"{CONFIG_PATH} line") for r in verdict.reasons):
            steps.append(f"Fix {config} at the lines shown (also as annotations).")
        steps.extend(_approval_steps(verdict, facts, approval))
    if steps:
        sections.append("### What to do next\n\n" + "\n".join(f"- {s}" for s in steps))
    return _joined(sections)
