"""GitLab's CODEOWNERS: which file applies, what it says, which rule of each section owns a path.

The GitLab forge reads the base branch's CODEOWNERS with these functions to answer "code owners of
this path" the way GitLab itself will enforce them: ``find_file`` picks the file GitLab uses,
``parse`` reads it, ``rules_for`` gives one rule per section that owns a path (every section
applies), and ``problems_for`` lists the unreadable lines that could change that answer, so the
caller can fail closed. The ``codeowners`` package speaks GitHub's dialect and knows none of
GitLab's sections, approval counts, default owners, roles or exclusions, hence this module.

Pure: no network, no python-gitlab, no clock, no logging. It does not resolve names to users or
groups, decide who is eligible to approve (membership, roles, SAML locks are the forge's job), or
count approvals. It never raises on any text, and it bounds its work (``MAX_BYTES``; matching is a
port of Ruby's ``File.fnmatch``, which backtracks over one ``*`` and one ``**/`` at a time).
"""

# Where each rule comes from. Docs: gitlabhq/gitlabhq doc/user/project/codeowners/ (_index.md at
# 0286e4c, reference.md, advanced.md). Code: GitLab EE ee/lib/gitlab/code_owners/ (file.rb,
# section_parser.rb, section.rb, reference_extractor.rb) as of 17.11 and later, where the exclusion
# feature flag is gone and errors live in an ``Errors`` object; names use lib/gitlab/path_regex.rb.
# - Locations, in order, first found wins (_index.md "CODEOWNERS file"). An empty file counts.
# - Lines are stripped (Ruby ``strip``: ASCII whitespace and NUL); blank lines and lines starting
#   with ``#`` are skipped; there are no inline comments (reference.md; file.rb ``skip?``).
# - Section header: section_parser.rb ``HEADER_REGEX``, only at the start of a line ("Something
#   before [X]" is an entry). A line starting ``[`` or ``^[`` with no ``]`` is reported and skipped
#   (``unparsable_section_header?``; the older advanced.md text says it becomes an entry, which
#   the current code no longer does). Header errors, named as GitLab names them:
#   missing_section_name, invalid_approval_requirement (``[N]`` not an integer, or ``^`` with
#   N > 0), invalid_section_owner_format, invalid_section_format (what ``STRICT_HEADER_REGEX``
#   rejects, e.g. ``[A][q]``).
# - Section names are case-insensitive; duplicates combine under the first spelling (advanced.md
#   "Sections with duplicate names"). section_parser.rb ``find_section_name`` only searches once a
#   named section exists, and the unnamed section is internally "codeowners": so a first header
#   ``[codeowners]`` joins the unnamed section, as does ``[CODEOWNERS]`` after any named one.
# - Entries before the first header form the unnamed section; every section applies to a path on
#   its own (reference.md "Sections"; file.rb ``entries_for_path``).
# - A section keys its entries by normalized pattern in a Ruby Hash: a repeated pattern replaces
#   the earlier entry but keeps its position. Matching walks the keys last to first and takes the
#   first match ("last pattern wins", advanced.md); if any matching entry is an exclusion the
#   section does not own the path (reference.md "Exclusion patterns": 17.10 behind
#   ``codeowners_file_exclusions``, GA in 17.11). So ``!x`` then ``x @o`` re-includes x.
# - Patterns (file.rb ``normalize_pattern``): ``*`` is ``/**/*``; a leading ``\#`` is ``#``;
#   backslash + whitespace is one space; without a leading ``/`` it is prefixed ``/**/`` (any
#   depth); a trailing ``/`` gets ``**/*`` (the directory, recursively). Pattern and owners split
#   at the first whitespace not preceded by a backslash.
# - Matching: ``File.fnmatch(glob, "/" + path, FNM_DOTMATCH | FNM_PATHNAME)`` (advanced.md
#   "Pattern matching"; file.rb ``FNMATCH_FLAGS``): ``*`` and ``?`` stop at ``/`` and match dots,
#   ``**/`` is zero or more directories, ``[...]`` classes, backslash escapes, case-sensitive.
#   ``_fnmatch`` ports Ruby's dir.c ``fnmatch``, ``fnmatch_helper`` and ``bracket``.
# - Owners (reference_extractor.rb): ``@name``, a username or a group's full path like
#   ``group/subgroup`` (GitLab matches a name against both, case-insensitively; a group means its
#   direct members, reference.md "Group eligibility"); ``@@developer``, ``@@maintainer``,
#   ``@@owner``, plural and any case allowed (reference.md "Add a role as a Code Owner": 17.7
#   behind ``codeowner_role_approvers``, GA in 17.9); and email addresses.
# - An entry without owners takes its section's default owners (reference.md "Set default Code
#   Owner for a section"; gitlab-org/gitlab MR 113594, 15.11 per shared/PLATFORM.md 10.2); with
#   neither it is missing_entry_owner. An owner token holding no reference is
#   malformed_entry_owner (file.rb ``validate_and_get_owners``). Exclusions take no owners.
# - Approvals: ``[N]`` on the header, default and minimum 1 (advanced.md "Require multiple
#   approvals", "Minimum approvals"; ApprovalWrappedCodeOwnerRule ``MIN_CODE_OWNER_APPROVALS``).
#   A section is optional only if all its entries came from ``^[...]`` headers (file.rb
#   ``optional_section?``; reference.md "Optional sections").
# Ours, to fail closed: files over MAX_BYTES; NUL in the text (GitLab may take the blob for binary
# and read nothing); patterns with an unclosed ``[`` (they never match); roles that Ruby's
# case-insensitive match accepts but GitLab cannot map (``@@ownerſ``).

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

LOCATIONS = ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")  # GitLab's search order
MAX_BYTES = 3 * 1024 * 1024
ROLES = ("developer", "maintainer", "owner")

_MAX_SHOWN = 80  # characters of a line, pattern or owner quoted in a message
_MAX_TOKENS_SHOWN = 5
_DEFAULT_SECTION = "codeowners"  # GitLab's internal name for the unnamed section (section.rb)

# What each problem says, by code. GitLab's own error names are used where it reports one.
MESSAGES = {
    "file_too_large": "the file is larger than {limit} bytes, so it is not read",
    "binary_content": "the file contains a NUL byte; GitLab may treat it as binary and ignore it",
    "invalid_section_format": "section header {text!r} is malformed: "
    "write [Name], ^[Name] for optional, [Name][N] for N approvals, then any default owners",
    "missing_section_name": "section header {text!r} has no name",
    "invalid_approval_requirement": "section header {text!r}: {why}",
    "invalid_section_owner_format": "section header {text!r} has default owners GitLab cannot "
    "read: {tokens} (write @user, @group/subgroup, @@role or an email address)",
    "malformed_entry_owner": "{pattern!r} has owners GitLab cannot read: {tokens} "
    "(write @user, @group/subgroup, @@role or an email address)",
    "missing_entry_owner": "{pattern!r} has no owners and its section has no default owners",
    "unknown_role": "{pattern!r} names a role GitLab cannot map: {tokens} "
    "(use @@developer, @@maintainer or @@owner)",
    "unmatchable_pattern": "{pattern!r} has a '[' without a closing ']', so it never matches",
}


@dataclass(frozen=True)
class Owners:
    """The owner references of one entry, as GitLab extracts them (in order, without repeats).

    GitLab does not tell users and groups apart in the file: each name is matched against usernames
    and group full paths alike, case-insensitively. A name with a ``/`` can only be a group.
    """

    names: tuple[str, ...] = ()  # without "@": "alice", "acme", "acme/security"
    roles: tuple[str, ...] = ()  # "developer" | "maintainer" | "owner": direct project members
    emails: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.roles or self.emails)


@dataclass(frozen=True)
class Entry:
    """One pattern line of a section (after a repeat of the same pattern, the later line)."""

    line: int
    pattern: str  # as written, without a leading "!"
    glob: str  # the normalized pattern GitLab matches against "/" + path
    exclusion: bool
    owners: Owners  # empty for exclusions
    optional: bool  # its header had "^"
    approvals: int  # its header's [N]; 0 when absent or unreadable


@dataclass(frozen=True)
class Section:
    name: str  # as first written; "" for the unnamed section
    entries: tuple[Entry, ...]  # in GitLab's matching order: first position of each pattern

    @property
    def optional(self) -> bool:
        """Optional only if every entry came from a ``^[...]`` header (GitLab's rule)."""
        return bool(self.entries) and all(e.optional for e in self.entries)


@dataclass(frozen=True)
class SectionRule:
    """The rule of one section that owns a path: its last matching, non-excluded entry."""

    section: str  # display name as first written; "" for the unnamed section
    optional: bool
    approvals: int  # the section's [N], at least 1
    line: int
    pattern: str
    owners: Owners


@dataclass(frozen=True)
class CodeownersProblem:
    line: int  # 1-based; 0 for the whole file
    code: str  # a key of MESSAGES
    message: str
    glob: str | None = None  # set when only paths this normalized pattern matches are affected


@dataclass(frozen=True)
class GitLabCodeowners:
    source: str  # which file: one of LOCATIONS, as a caller found it
    sections: tuple[Section, ...]  # the unnamed section first, then in order of first header
    problems: tuple[CodeownersProblem, ...]


def find_file(files: Mapping[str, str | None]) -> str | None:
    """The location GitLab reads: the first of LOCATIONS present in ``files`` (None = absent)."""
    return next((path for path in LOCATIONS if files.get(path) is not None), None)


def rules_for(codeowners: GitLabCodeowners, path: str) -> list[SectionRule]:
    """One rule per section that owns ``path``, in section order; [] when nobody does."""
    target = path if path.startswith("/") else "/" + path
    rules = []
    for section in codeowners.sections:
        matching = [e for e in reversed(section.entries) if _fnmatch(e.glob, target)]
        if not matching or any(e.exclusion for e in matching):
            continue
        entry = matching[0]
        rules.append(
            SectionRule(
                section=section.name,
                optional=section.optional,
                approvals=max(entry.approvals, 1),
                line=entry.line,
                pattern=entry.pattern,
                owners=entry.owners,
            )
        )
    return rules


def pattern_matches(pattern: str, path: str) -> bool:
    """Whether one CODEOWNERS pattern, as written, matches ``path`` the way GitLab matches it.

    GitLab names the code-owner approval rule it makes for a merge request after the entry's
    pattern as written (``ApprovalMergeRequestRule.find_or_create_code_owner_rule``: ``name:
    entry.pattern``, with ``section: entry.section``), so this tells which file such a rule is for.
    """
    target = path if path.startswith("/") else "/" + path
    return _fnmatch(_normalize(pattern), target)


def problems_for(codeowners: GitLabCodeowners, path: str) -> list[CodeownersProblem]:
    """The problems that could change who owns ``path``: if any, its owners are unknown."""
    target = path if path.startswith("/") else "/" + path
    return [p for p in codeowners.problems if p.glob is None or _fnmatch(p.glob, target)]


# -- parsing -------------------------------------------------------------------------------------

_RUBY_STRIP = " \t\n\v\f\r\0"  # Ruby's String#strip
_RUBY_SPLIT = re.compile(r"[ \t\n\v\f\r]+")  # Ruby's String#split with no pattern
_PATTERN_END = re.compile(r"(?<!\\)[ \t\n\v\f\r]+")  # file.rb: line.partition(/(?<!\\)\s+/)
_ESCAPED_SPACE = re.compile(r"\\[ \t\n\v\f\r]+")

# section_parser.rb HEADER_REGEX, STRICT_HEADER_REGEX, INVALID_SECTION_REGEX, STRING_INTEGER_REGEX
_HEADER = re.compile(
    r"(?P<optional>\^)?\[(?P<name>.*?)\](?:\[(?P<approvals>[\s\d]*)\])?"
    r"(?P<default_owners>\s*[@\w.\-/\s]*)?",
    re.ASCII,
)
# GitLab's strict form ends in "(\s+[@\w.\-/\s]+)?$": the same strings, written without the
# overlap between "\s+" and the class that makes a long run of spaces backtrack quadratically.
_STRICT_HEADER = re.compile(r"\^?\[[^\]]+\](?:\[\d+\])?(?:\s[@\w.\-/\s]+)?", re.ASCII)
_HEADER_START = re.compile(r"\^?\[")
_INTEGER = re.compile(r"\s*\d+\s*", re.ASCII)
_LEADING_INT = re.compile(r"\s*(\d*)", re.ASCII)


@dataclass
class _Header:
    key: str
    optional: bool = False
    approvals: int = 0
    default_owners: str = ""


def parse(text: str, source: str = "CODEOWNERS") -> GitLabCodeowners:
    """Read a CODEOWNERS file as GitLab does; unreadable lines become problems, never exceptions."""
    if _too_large(text):
        problem = _problem(0, "file_too_large", limit=str(MAX_BYTES))
        return GitLabCodeowners(source=source, sections=(), problems=(problem,))
    problems: list[CodeownersProblem] = []
    if "\0" in text:
        problems.append(_problem(0, "binary_content"))
    names: dict[str, str] = {_DEFAULT_SECTION: ""}  # key -> display name
    entries: dict[str, dict[str, Entry]] = {_DEFAULT_SECTION: {}}
    current = _Header(_DEFAULT_SECTION)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(_RUBY_STRIP)
        if _blank(line) or line.startswith("#"):
            continue
        match = _HEADER.match(line)
        if match is None:
            if _HEADER_START.match(line):
                problems.append(_problem(number, "invalid_section_format", text=line))
            else:
                _add_entry(line, number, current, entries[current.key], problems)
            continue
        current = _read_header(match, line, number, entries, problems)
        if current.key not in entries:
            entries[current.key] = {}
            names[current.key] = match["name"]
    sections = tuple(
        Section(name=names[key], entries=tuple(by_glob.values()))
        for key, by_glob in entries.items()
    )
    return GitLabCodeowners(source=source, sections=sections, problems=tuple(problems))


def _read_header(
    match: re.Match[str],
    line: str,
    number: int,
    entries: Mapping[str, object],
    problems: list[CodeownersProblem],
) -> _Header:
    name = match["name"]
    keys = list(entries)
    key = name
    if keys[-1] != _DEFAULT_SECTION:  # GitLab only looks for a namesake once a section exists
        folded = name.casefold()
        key = next((k for k in keys if k.casefold() == folded), name)
    raw_approvals = match["approvals"]
    approvals_digits = _LEADING_INT.match(raw_approvals or "")
    header = _Header(
        key=key,
        optional=match["optional"] is not None,
        approvals=int(approvals_digits[1] or 0) if approvals_digits else 0,
        default_owners=(match["default_owners"] or "").strip(_RUBY_STRIP),
    )
    found = len(problems)
    if _blank(name):
        problems.append(_problem(number, "missing_section_name", text=line))
    if raw_approvals is not None and not _INTEGER.fullmatch(raw_approvals):
        why = f"approval count [{raw_approvals}] is not a whole number"
        problems.append(_problem(number, "invalid_approval_requirement", text=line, why=why))
    elif header.optional and header.approvals > 0:
        why = "an optional (^) section cannot require approvals"
        problems.append(_problem(number, "invalid_approval_requirement", text=line, why=why))
    if header.default_owners and not _blank(header.default_owners):
        tokens = _RUBY_SPLIT.split(header.default_owners)
        raw = set().union(*(_raw_references(t) for t in tokens if t))
        bad = [t for t in tokens if t and t not in raw]
        if bad:
            problems.append(
                _problem(number, "invalid_section_owner_format", text=line, tokens=_quoted(bad))
            )
    if len(problems) == found and not _STRICT_HEADER.fullmatch(line):
        problems.append(_problem(number, "invalid_section_format", text=line))
    return header


def _add_entry(
    line: str,
    number: int,
    header: _Header,
    section: dict[str, Entry],
    problems: list[CodeownersProblem],
) -> None:
    pattern, owner_text = _split_entry(line)
    exclusion = pattern.startswith("!")
    if exclusion:
        pattern = pattern[1:]
    glob = _normalize(pattern)
    owners = Owners()
    if not exclusion:
        owners = _entry_owners(pattern, glob, owner_text, header, number, problems)
    if _unclosed_bracket(glob):
        problems.append(_problem(number, "unmatchable_pattern", glob=glob, pattern=pattern))
    # A Ruby Hash: assigning an existing key keeps its position, as a dict does.
    section[glob] = Entry(
        line=number,
        pattern=pattern,
        glob=glob,
        exclusion=exclusion,
        owners=owners,
        optional=header.optional,
        approvals=header.approvals,
    )


def _split_entry(line: str) -> tuple[str, str]:
    found = _PATTERN_END.search(line)
    if found is None:
        return line, ""
    return line[: found.start()], line[found.end() :]


def _entry_owners(
    pattern: str,
    glob: str,
    owner_text: str,
    header: _Header,
    number: int,
    problems: list[CodeownersProblem],
) -> Owners:
    tokens = [t for t in _RUBY_SPLIT.split(owner_text) if t]
    bad = [t for t in tokens if not _raw_references(t)]
    if bad:
        problems.append(
            _problem(
                number, "malformed_entry_owner", glob=glob, pattern=pattern, tokens=_quoted(bad)
            )
        )
    if _blank(owner_text):
        owner_text = header.default_owners
    if _blank(owner_text):
        problems.append(_problem(number, "missing_entry_owner", glob=glob, pattern=pattern))
        return Owners()
    names: dict[str, str] = {}
    roles: dict[str, None] = {}
    emails: dict[str, str] = {}
    unknown = []
    for token in _RUBY_SPLIT.split(owner_text):
        found_names, found_roles, found_emails = _references(token)
        for name in found_names:
            names.setdefault(name.lower(), name)
        for role in found_roles:
            canonical = _role(role)
            if canonical is None:
                unknown.append("@@" + role)
            else:
                roles.setdefault(canonical)
        for email in found_emails:
            emails.setdefault(email.lower(), email)
    if unknown:
        problems.append(
            _problem(number, "unknown_role", glob=glob, pattern=pattern, tokens=_quoted(unknown))
        )
    return Owners(names=tuple(names.values()), roles=tuple(roles), emails=tuple(emails.values()))


def _normalize(pattern: str) -> str:
    """file.rb ``normalize_pattern``: the glob GitLab matches against "/" + path."""
    if pattern == "*":
        return "/**/*"
    if pattern.startswith("\\#"):
        pattern = pattern[1:]
    pattern = _ESCAPED_SPACE.sub(" ", pattern)
    if not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    return pattern


# -- owner references (reference_extractor.rb, with Gitlab::PathRegex for names) ----------------

_NAMESPACE = (
    r"(?:[a-zA-Z0-9_.][a-zA-Z0-9_\-.]{0,254}[a-zA-Z0-9_\-]|[a-zA-Z0-9_])(?<!\.git)(?<!\.atom)"
)
_NAME = re.compile(rf"(?<![\w@])@(?P<name>(?:{_NAMESPACE}/){{0,20}}{_NAMESPACE})", re.ASCII)
# Ruby's /i folds Unicode, so U+212A (Kelvin) and U+017F (long s) count as word letters there.
_ROLE = re.compile(
    r"(?<![A-Za-z0-9_@\u212a\u017f])@@(?P<role>(?:developer|maintainer|owner)s?)$", re.IGNORECASE
)
_EMAIL = re.compile(r"[^@\s]{1,100}@[^@\s]{1,255}(?<!\W)", re.ASCII)


_References = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _references(token: str) -> _References:
    """Names, roles (as written) and emails in one whitespace-free token, in order.

    GitLab scans the whole owner text; no reference can span whitespace, so token by token is
    the same, and a token without "@" has none.
    """
    if len(token) <= 256:  # owners repeat from line to line; keep only short ones in the cache
        return _references_cached(token)
    return _references_uncached(token)


def _references_uncached(token: str) -> _References:
    if "@" not in token:
        return (), (), ()
    names = tuple(m["name"] for m in _NAME.finditer(token))
    role = _ROLE.search(token)
    return names, (role["role"],) if role else (), _emails(token)


_references_cached = functools.lru_cache(maxsize=4096)(_references_uncached)


def _emails(token: str) -> tuple[str, ...]:
    """``token.scan(EMAIL_REGEXP)`` in linear time.

    A match is at most 100 characters, an "@", then the domain. Its start is therefore within 100
    characters before the first "@" after it, and whether it matches depends only on the domain,
    so only the leftmost possible start before each "@" needs trying.
    """
    found = []
    position = 0
    previous = -1
    for at in (i for i, c in enumerate(token) if c == "@"):
        start = max(position, previous + 1, at - 100)
        previous = at
        if start >= at:
            continue
        match = _EMAIL.match(token, start)
        if match is not None:
            found.append(match[0])
            position = match.end()
    return tuple(found)


def _raw_references(token: str) -> set[str]:
    """``ReferenceExtractor#raw_references`` of one token: each reference as written."""
    names, roles, emails = _references(token)
    return {"@" + n for n in names} | {"@@" + r for r in roles} | set(emails)


def _role(written: str) -> str | None:
    """reference_extractor.rb: ``ROLES_MAP[role.singularize.downcase]``."""
    lowered = written.lower()
    singular = lowered[:-1] if lowered.endswith("s") else lowered
    return singular if singular in ROLES else None


# -- matching: a port of Ruby's File.fnmatch with FNM_PATHNAME | FNM_DOTMATCH (dir.c) -------------
# The strings carry a NUL sentinel, standing for C's terminator.


def _fnmatch(pattern: str, path: str) -> bool:
    p_text = pattern + "\0"
    s_text = path + "\0"
    p = s = 0
    p_retry = s_retry = -1  # after the last "**/": where to retry, one directory deeper each time
    while True:
        if p_text.startswith("**/", p):
            while p_text.startswith("**/", p):
                p += 3
            p_retry, s_retry = p, s
        matched, p, s = _fnmatch_segment(p_text, p, s_text, s)
        if matched:
            while s_text[s] not in "\0/":
                s += 1
            if p_text[p] != "\0" and s_text[s] != "\0":
                p += 1
                s += 1
                continue
            if p_text[p] == "\0" and s_text[s] == "\0":
                return True
        if p_retry >= 0:
            while s_text[s_retry] not in "\0/":
                s_retry += 1
            if s_text[s_retry] != "\0":
                s_retry += 1
                p, s = p_retry, s_retry
                continue
        return False


def _fnmatch_segment(pat: str, p: int, text: str, s: int) -> tuple[bool, int, int]:
    """dir.c ``fnmatch_helper``: match one path segment, backtracking over the last ``*``."""
    p_star = s_star = -1
    while True:
        c = pat[p]
        if c == "*":
            while pat[p] == "*":
                p += 1
            after = p + 1 if pat[p] == "\\" else p
            if pat[after] in "\0/":
                return True, after, s
            if text[s] in "\0/":
                return False, p, s
            p_star, s_star = p, s
            continue
        if c == "?":
            if text[s] in "\0/":
                return False, p, s
            p += 1
            s += 1
            continue
        if c == "[":
            if text[s] in "\0/":
                return False, p, s
            after_class = _bracket(pat, p + 1, text[s])
            if after_class is not None:
                p = after_class
                s += 1
                continue
        else:
            if c == "\\":
                p += 1
            if text[s] in "\0/":
                return pat[p] in "\0/", p, s
            if pat[p] not in "\0/" and pat[p] == text[s]:
                p += 1
                s += 1
                continue
        if p_star < 0:  # failed, and no "*" to stretch
            return False, p, s
        p = p_star
        s_star += 1
        s = s_star


def _bracket(pat: str, p: int, char: str) -> int | None:
    """dir.c ``bracket``: the index after the class if ``char`` is in it, else None."""
    if pat[p] == "\0":
        return None
    negated = pat[p] in "!^"
    if negated:
        p += 1
    ok = False
    while pat[p] != "]":
        first = p + 1 if pat[p] == "\\" else p
        if pat[first] == "\0":
            return None
        p = first + 1
        if pat[p] == "\0":
            return None
        if pat[p] == "-" and pat[p + 1] != "]":
            last = p + 2 if pat[p + 1] == "\\" else p + 1
            if pat[last] == "\0":
                return None
            p = last + 1
            # C compares the endpoints for equality before comparing code points
            if not ok and (char in (pat[first], pat[last]) or pat[first] <= char <= pat[last]):
                ok = True
        elif not ok and pat[first] == char:
            ok = True
    return None if ok == negated else p + 1


def _unclosed_bracket(glob: str) -> bool:
    """Whether a "[" opens a class that never closes, which makes Ruby's fnmatch always fail."""
    text = glob + "\0"
    i = 0
    while text[i] != "\0":
        if text[i] == "\\":
            i += 2 if text[i + 1] != "\0" else 1
            continue
        if text[i] == "[":
            end = _class_end(text, i + 1)
            if end is None:
                return True
            i = end
            continue
        i += 1
    return False


def _class_end(pat: str, p: int) -> int | None:
    """Where ``_bracket`` would stop scanning a class opened before ``p``, or None if never."""
    if pat[p] == "\0":
        return None
    if pat[p] in "!^":
        p += 1
    while pat[p] != "]":
        first = p + 1 if pat[p] == "\\" else p
        if pat[first] == "\0" or pat[first + 1] == "\0":
            return None
        p = first + 1
        if pat[p] == "-" and pat[p + 1] != "]":
            last = p + 2 if pat[p + 1] == "\\" else p + 1
            if pat[last] == "\0":
                return None
            p = last + 1
    return p + 1


# -- small helpers -------------------------------------------------------------------------------


def _blank(text: str) -> bool:
    """ActiveSupport ``blank?``: only Unicode White_Space (Python's isspace adds \\x1c-\\x1f)."""
    return all(c.isspace() and c not in "\x1c\x1d\x1e\x1f" for c in text)


def _too_large(text: str) -> bool:
    if len(text) > MAX_BYTES:  # every character is at least one byte
        return True
    return len(text) * 4 > MAX_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES


def _quoted(tokens: list[str]) -> str:
    shown = ", ".join(repr(_short(t)) for t in tokens[:_MAX_TOKENS_SHOWN])
    more = len(tokens) - _MAX_TOKENS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _short(text: str) -> str:
    """Keep messages readable when a line is huge."""
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _problem(line: int, code: str, glob: str | None = None, **facts: str) -> CodeownersProblem:
    shown = {k: v if k in ("tokens", "why") else _short(v) for k, v in facts.items()}
    return CodeownersProblem(
        line=line, code=code, message=MESSAGES[code].format(**shown), glob=glob
    )
