"""Loading policies from YAML files: schema-checked, compiled, every error naming file and line.

Bundled packs live in ``policies/<pack>/*.yaml`` (shipped inside the package); a repository may add
its own in ``.compliance/policies/*.yaml``. A repository policy can never replace a bundled one:
that would let a repository loosen a rule.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import safeyaml
from bot.engine import cel as celx
from bot.engine.evaluate import compile_policy
from bot.engine.model import ExceptionPolicy, Fixture, Policy
from bot.engine.targets import TARGETS, MatchError

if TYPE_CHECKING:  # imported when a schema is first needed: it slows start-up
    import jsonschema

DEFAULT_MAX_DAYS = 90


@dataclass(frozen=True)
class PolicyLoadError(Exception):
    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


@functools.cache
def _schema_validator(name: str) -> jsonschema.Draft202012Validator:
    text = resources.files("bot.schemas").joinpath(name).read_text("utf-8")
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(text))


def schema_errors(name: str, doc: safeyaml.Document, source: str) -> list[tuple[int | None, str]]:
    """Validate a loaded document against one of ``bot/schemas``; (line, message) per problem."""
    out = []
    for err in sorted(_schema_validator(name).iter_errors(doc.value), key=lambda e: list(e.path)):
        path = list(err.absolute_path)
        where = ".".join(str(p) for p in path) or "(top level)"
        out.append((doc.line_of(path) or doc.line, f"{where}: {err.message}"))
    return out


def bundled_dir() -> Path:
    """Where the bundled packs are: inside the wheel, or the checkout's ``policies/``."""
    packaged = resources.files("bot").joinpath("_policies")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "policies"


def bundled_packs() -> list[str]:
    return sorted(p.name for p in bundled_dir().iterdir() if p.is_dir())


def load_bundled(packs: Iterable[str] | None = None) -> list[Policy]:
    """The bundled policies of the named packs (default: all). Raises PolicyLoadError."""
    root = bundled_dir()
    names = bundled_packs() if packs is None else list(packs)
    policies: list[Policy] = []
    for pack in names:
        folder = root / pack
        if not folder.is_dir():
            raise PolicyLoadError(
                pack, None, f"no bundled pack {pack!r} ({', '.join(bundled_packs())})"
            )
        for path in sorted(folder.glob("*.yaml")):
            # Bundled packs are validated against the schema by the test suite
            # (tests/test_policies.py); loading them skips it, which keeps start-up fast.
            policies.append(
                load_policy_text(
                    path.read_text("utf-8"), f"policies/{pack}/{path.name}", pack, trusted=True
                )
            )
    check_unique(policies)
    return policies


def load_policy_file(path: Path, pack: str = "local") -> Policy:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(str(path), None, f"cannot read: {exc}") from None
    return load_policy_text(text, str(path), pack)


def load_policy_paths(paths: Iterable[Path], pack: str = "local") -> list[Policy]:
    """Files, or directories of ``*.yaml`` policy files."""
    out: list[Policy] = []
    for path in paths:
        if path.is_dir():
            out.extend(load_policy_file(p, pack) for p in sorted(path.glob("*.yaml")))
        else:
            out.append(load_policy_file(path, pack))
    return out


def check_unique(policies: Iterable[Policy]) -> None:
    seen: dict[str, Policy] = {}
    for p in policies:
        if p.id in seen:
            first = seen[p.id]
            raise PolicyLoadError(
                p.source, p.line, f"policy id {p.id!r} is already defined in {first.source}"
            )
        seen[p.id] = p


def load_policy_text(
    text: str, source: str, pack: str = "local", *, trusted: bool = False
) -> Policy:
    try:
        doc = safeyaml.load(text, safeyaml.STRICT)
    except safeyaml.YAMLError as exc:
        raise PolicyLoadError(source, exc.line, exc.reason) from None
    if not isinstance(doc.value, dict):
        raise PolicyLoadError(source, doc.line, "a policy file must be a mapping")
    problems = [] if trusted else schema_errors("policy.schema.json", doc, source)
    if problems:
        line, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PolicyLoadError(source, line, message + more)
    data: dict[str, Any] = doc.value
    if data["target"] not in TARGETS:
        raise PolicyLoadError(
            source, doc.line_of("target"), f"target {data['target']!r} is not available yet"
        )
    exc_cfg = data["exceptions"]
    fixtures = tuple(
        Fixture(
            expect=f["expect"],
            path=f.get("path") or _default_fixture_path(data["target"]),
            content=f.get("content", ""),
            line=doc.line_of(["fixtures", i]) or doc.line,
            findings=f.get("findings"),
            pull_request=f.get("pull_request"),
            name=f.get("name", ""),
        )
        for i, f in enumerate(data.get("fixtures", []))
    )
    policy = Policy(
        id=data["id"],
        title=data["title"],
        description=data.get("description", "").strip(),
        remediation=data.get("remediation", "").strip(),
        severity=data["severity"],
        enforcement=data["enforcement"],
        target=data["target"],
        files=tuple(data.get("files", ())),
        exclude=tuple(data.get("exclude", ())),
        match=dict(data.get("match", {})),
        condition=data["condition"],
        message=data["message"],
        exceptions=ExceptionPolicy(
            allowed=exc_cfg["allowed"],
            max_days=exc_cfg.get("max_days", DEFAULT_MAX_DAYS),
            broad_paths=exc_cfg.get("broad_paths", False),
        ),
        standards=tuple(data["standards"]),
        pack=pack,
        source=source,
        line=doc.line,
        fixtures=fixtures,
        tags=tuple(data.get("tags", ())),
    )
    try:
        compile_policy(policy)
    except celx.CELCompileError as exc:
        raise PolicyLoadError(
            source, doc.line_of("condition"), f"condition does not compile: {exc}"
        ) from None
    except MatchError as exc:
        raise PolicyLoadError(source, doc.line_of("match"), str(exc)) from None
    return policy


def _default_fixture_path(target: str) -> str:
    return {"kubernetes": "fixture.yaml", "yaml": "fixture.yaml", "json": "fixture.json"}.get(
        target, "fixture.txt"
    )
