"""A repository's own settings, ``.compliance/config.yaml``, read from the base commit.

Repo config may tighten rules, never loosen them on its own: ``enforce`` turns advisory policies
blocking; nothing here can turn a blocking policy advisory or raise an exception's limits. What
does loosen them (an ``exclude:`` glob, a pack or ``enforce`` entry dropped, a limit lowered) is
an opt-out like an exception: ``loosenings`` names each one, so a pull request making it needs
the code owners' approval (``bot.exemptions.review``), and every check lists the exclusions.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot import safeyaml
from bot.engine.globs import GlobSet
from bot.engine.loader import schema_errors
from bot.engine.model import EvalError, Policy, closest_policy

if TYPE_CHECKING:
    from bot.notify.routes import Route

CONFIG_PATH = ".compliance/config.yaml"
EXCEPTIONS_PATH = ".compliance/exceptions.yaml"
POLICIES_DIR = ".compliance/policies"


@dataclass(frozen=True)
class RepoConfig:
    packs: tuple[str, ...] | None = None  # None: every bundled pack
    enforce: tuple[str, ...] = ()
    enforce_lines: tuple[int | None, ...] = ()  # the line of each ``enforce`` entry
    require_ticket: bool = False
    required_approvals: int = 1
    max_renewals: int = 3
    reminder_days: tuple[int, ...] = (14, 3)
    expiring_soon_days: int = 14
    dashboard: bool = True
    notifications: tuple[Route, ...] = ()  # who hears what (bot.notify.routes)
    require_chart_rendering: bool = False  # a touched chart helm can't render fails the check
    chart_values: tuple[tuple[str, tuple[str, ...]], ...] = ()  # chart dir -> values files
    exclude: tuple[str, ...] = ()  # root-anchored globs never evaluated (an opt-out: governed)
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # "exclude.0" -> line
    errors: list[EvalError] = field(default_factory=list, compare=False)

    def excluding(self, path: str) -> str | None:
        """The ``exclude`` glob that keeps ``path`` out of evaluation, if any."""
        return next((g for g in self.exclude if GlobSet((g,)).matches(path)), None)

    def split_excluded(self, paths: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
        """``paths`` that are evaluated, and the excluded ones by the glob that excludes them."""
        kept: list[str] = []
        excluded: dict[str, list[str]] = {}
        for path in paths:
            glob = self.excluding(path) if self.exclude else None
            if glob is None:
                kept.append(path)
            else:
                excluded.setdefault(glob, []).append(path)
        return kept, excluded


def parse_config(text: str | None, source: str = CONFIG_PATH) -> RepoConfig:
    """The config (a missing file means the defaults); problems come back in ``errors``."""
    if text is None or not text.strip():
        return RepoConfig()
    try:
        doc = safeyaml.load(text, safeyaml.STRICT)
    except safeyaml.YAMLError as exc:
        return RepoConfig(errors=[EvalError(exc.reason, path=source, line=exc.line)])
    if doc.value is None:
        return RepoConfig()
    problems = schema_errors("config.schema.json", doc, source, text)
    if problems:
        return RepoConfig(errors=[EvalError(m, path=source, line=line) for line, m in problems])
    routes: tuple[Route, ...] = ()
    if doc.value.get("notifications"):  # (notify's modules load only for a config that routes)
        from bot.notify.routes import parse_routes

        routes, route_errors = parse_routes(doc, source)
        if route_errors:
            return RepoConfig(errors=route_errors)
    data = doc.value
    exclude_errors = [
        EvalError(f"exclude: {message}", path=source, line=doc.line_of(["exclude", i]))
        for i, glob in enumerate(data.get("exclude", ()))
        if (message := exclusion_problem(glob)) is not None
    ]
    if exclude_errors:
        return RepoConfig(errors=exclude_errors)
    exc_cfg = data.get("exceptions", {})
    return RepoConfig(
        packs=tuple(data["packs"]) if "packs" in data else None,
        enforce=tuple(data.get("enforce", ())),
        enforce_lines=tuple(
            doc.line_of(["enforce", i]) for i in range(len(data.get("enforce", ())))
        ),
        require_ticket=exc_cfg.get("require_ticket", False),
        required_approvals=exc_cfg.get("required_approvals", 1),
        max_renewals=exc_cfg.get("max_renewals", 3),
        reminder_days=tuple(sorted(set(exc_cfg.get("reminder_days", (14, 3))), reverse=True)),
        expiring_soon_days=exc_cfg.get("expiring_soon_days", 14),
        dashboard=data.get("dashboard", {}).get("enabled", True),
        notifications=routes,
        require_chart_rendering=data.get("charts", {}).get("require_rendering", False),
        chart_values=tuple(
            (d.strip("/"), tuple(v)) for d, v in data.get("charts", {}).get("values", {}).items()
        ),
        exclude=tuple(data.get("exclude", ())),
        lines=_key_lines(doc, data),
    )


_KEYS = (
    ("packs",),
    ("enforce",),
    ("exclude",),
    ("exceptions", "required_approvals"),
    ("exceptions", "max_renewals"),
    ("exceptions", "require_ticket"),
    ("charts", "require_rendering"),
    ("charts", "values"),
    ("dashboard", "enabled"),
    ("notifications",),
)


def _key_lines(doc: safeyaml.Document, data: dict) -> dict[str, int]:
    lines: dict[str, int] = {}
    for key in _KEYS:
        line = doc.line_of(list(key))
        if line is not None:
            lines[".".join(key)] = line
    for name in ("enforce", "exclude"):
        for i in range(len(data.get(name, ()))):
            line = doc.line_of([name, i])
            if line is not None:
                lines[f"{name}.{i}"] = line
    return lines


# Paths any real exclusion leaves alone: a glob matching all of them excludes everything.
_EVERYWHERE = ("x", "x.yaml", "deploy/x.yaml", "a/b/c/x.json", ".compliance/x.yaml")


def exclusion_problem(glob: str) -> str | None:
    """Why ``glob`` can't be an ``exclude`` entry, or None when it can."""
    if glob.startswith("!"):
        return f"{glob!r}: negated globs are not supported; list only what to exclude"
    if "\\" in glob:
        return f"{glob!r}: use '/' between folders, not '\\'"
    if any(part == ".." for part in glob.split("/")):
        return f"{glob!r}: '..' can't be in a glob anchored at the repository root"
    if not glob.strip("/ "):
        return f"{glob!r} names no path"
    if all(GlobSet((glob,)).matches(path) for path in _EVERYWHERE):
        return (
            f"{glob!r} would exclude every file; choose the packs to run (packs:) instead of"
            " excluding the repository"
        )
    return None


@dataclass(frozen=True)
class Loosening:
    """One way a config change relaxes the rules: it needs the code owners' approval."""

    key: str  # the setting: "exclude", "packs", "enforce", "exceptions.required_approvals"...
    message: str
    line: int | None = None  # in the new config; None when only the old one had the line


def loosenings(
    base: RepoConfig, head: RepoConfig, policy_ids: Iterable[str], packs: Iterable[str]
) -> list[Loosening]:
    """How ``head`` relaxes ``base``: exclusions added, packs or enforced policies dropped,
    limits lowered, visibility (dashboard, notification routes) reduced. Tightening is free.

    ``policy_ids`` are the policies the base knows (to tell which an ``enforce`` pattern covers);
    ``packs`` every bundled pack (what ``packs:`` left out means).
    """
    out: list[Loosening] = []
    where = head.lines.get

    for i, glob in enumerate(head.exclude):
        if glob not in base.exclude:
            out.append(Loosening("exclude", f"adds the exclusion {glob!r}", where(f"exclude.{i}")))

    every = list(packs)
    had = set(every if base.packs is None else base.packs) & set(every)
    has = set(every if head.packs is None else head.packs)
    for pack in sorted(had - has):
        out.append(Loosening("packs", f"turns off the {pack!r} pack", where("packs")))

    ids = list(policy_ids)

    def enforced(config: RepoConfig) -> set[str]:
        return {i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in config.enforce)}

    dropped = sorted(enforced(base) - enforced(head))
    if dropped:
        shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if dropped[10:] else "")
        out.append(Loosening("enforce", f"stops enforcing {shown}", where("enforce")))

    if head.required_approvals < base.required_approvals:
        out.append(
            Loosening(
                "exceptions.required_approvals",
                "lowers exceptions.required_approvals from"
                f" {base.required_approvals} to {head.required_approvals}",
                where("exceptions.required_approvals"),
            )
        )
    if head.max_renewals > base.max_renewals:
        out.append(
            Loosening(
                "exceptions.max_renewals",
                f"raises exceptions.max_renewals from {base.max_renewals} to {head.max_renewals}",
                where("exceptions.max_renewals"),
            )
        )
    flags = (
        ("require_ticket", "exceptions.require_ticket", "stops requiring a ticket on exceptions"),
        (
            "require_chart_rendering",
            "charts.require_rendering",
            "stops failing the check when a chart can't be rendered",
        ),
        ("dashboard", "dashboard.enabled", "turns off the dashboard issue"),
    )
    for attr, key, message in flags:
        if getattr(base, attr) and not getattr(head, attr):
            out.append(Loosening(key, message, where(key)))
    if base.chart_values != head.chart_values:
        out.append(
            Loosening(
                "charts.values",
                "changes the values files charts are rendered with",
                where("charts.values"),
            )
        )

    def heard(config: RepoConfig) -> set[tuple[str, str]]:
        return {(k, d) for r in config.notifications for k in r.kinds for d in r.to}

    for kind, to in sorted(heard(base) - heard(head)):
        out.append(
            Loosening("notifications", f"stops sending {kind} to {to}", where("notifications"))
        )
    return out


def unknown_enforced(
    policies: Iterable[Policy], config: RepoConfig, source: str = CONFIG_PATH
) -> list[EvalError]:
    """``enforce`` entries that match no policy: a typo would silently enforce nothing."""
    policies = list(policies)
    errors = []
    for i, pattern in enumerate(config.enforce):
        if any(fnmatch.fnmatchcase(p.id, pattern) for p in policies):
            continue
        guess = closest_policy(pattern, policies)
        hint = f" (did you mean {guess}?)" if guess else ""
        line = config.enforce_lines[i] if i < len(config.enforce_lines) else None
        errors.append(
            EvalError(f"enforce: {pattern} matches no policy{hint}", path=source, line=line)
        )
    return errors


def apply_config(policies: Iterable[Policy], config: RepoConfig) -> list[Policy]:
    """Policies with the repository's tightening applied (advisory -> blocking where enforced)."""
    out = []
    for policy in policies:
        if policy.enforcement == "advisory" and any(
            fnmatch.fnmatchcase(policy.id, pattern) for pattern in config.enforce
        ):
            policy = dataclasses.replace(policy, enforcement="blocking")
        out.append(policy)
    return out
