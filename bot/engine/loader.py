"""Loading policies from YAML files: schema-checked, compiled, every error naming file and line.

Bundled packs live in ``policies/<pack>/*.yaml`` (shipped inside the package); a repository may add
its own in ``.compliance/policies/*.yaml``. A repository policy can never replace a bundled one:
that would let a repository loosen a rule.
"""

from __future__ import annotations

import functools
import marshal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import safeyaml, schemas, usercache
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
    further: tuple[tuple[int | None, str], ...] = ()  # more (line, message) of the same file

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"

    def problems(self) -> list[tuple[int | None, str]]:
        """Every (line, message) found in the file, the first one included."""
        return [(self.line, self.message), *self.further]

    def lines(self) -> list[str]:
        """Every problem as ``file:line: message``."""
        return [
            str(PolicyLoadError(self.source, line, message)) for line, message in self.problems()
        ]


def schema_errors(
    name: str, doc: safeyaml.Document, source: str, text: str | None = None
) -> list[tuple[int | None, str]]:
    """Validate a loaded document against one of ``bot/schemas``; (line, message) per problem.

    Given the ``text`` that ``doc`` was read from, a text found valid before (``bot.verdicts``,
    where the command line keeps them) is not checked again.
    """
    out = []
    for err in sorted(schemas.errors(name, doc.value, text), key=lambda e: list(e.path)):
        path = list(err.absolute_path)
        where = ".".join(str(p) for p in path) or "(top level)"
        out.append((doc.line_of(path) or doc.line, f"{where}: {_schema_message(err)}"))
    return out


_TYPES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _schema_message(err: jsonschema.ValidationError) -> str:
    """jsonschema's message in the words of a YAML file, without Python reprs of lists."""
    value, expected = err.instance, err.validator_value
    if err.validator == "enum":
        return f"{_shown(value)} is not one of {', '.join(str(v) for v in expected)}"
    if err.validator == "required":  # one error per missing field: "'x' is a required property"
        return "missing required field " + err.message.removesuffix(" is a required property")
    if err.validator == "additionalProperties" and isinstance(value, dict):
        allowed = set((err.schema.get("properties") or {}).keys())
        unknown = [str(k) for k in value if k not in allowed] if allowed else []
        if unknown:
            noun = "unknown field " if len(unknown) == 1 else "unknown fields "
            return noun + ", ".join(f"'{k}'" for k in unknown)
    if err.validator == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPES.get(n, n) for n in names)
        return f"{_shown(value)} is not {wanted}"
    return err.message


def _shown(value: Any) -> str:
    """A value as a message quotes it: text quoted, numbers and booleans as YAML writes them,
    a list or a mapping by its kind (never a Python repr of one)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str | int | float):
        return repr(value)
    return "a list" if isinstance(value, list) else "a mapping"


def bundled_dir() -> Path:
    """Where the bundled packs are: inside the wheel, or the checkout's ``policies/``."""
    # (the package's own folder, as importlib.resources.files("bot") names it, without importing
    # importlib.resources, tempfile and shutil at every start)
    here = Path(__file__).resolve().parents[1]
    packaged = here / "_policies"
    if packaged.is_dir():
        return packaged
    return here.parent / "policies"


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


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the ``*.yaml`` and ``*.yml`` files in and below the folders named."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            out.append(path)
    return out


def load_policy_paths(paths: Iterable[Path], pack: str = "local") -> list[Policy]:
    """Files, or folders of ``*.yaml`` policy files (searched through their subfolders)."""
    return [load_policy_file(p, pack) for p in policy_files(paths)]


def check_unique(policies: Iterable[Policy]) -> None:
    seen: dict[str, Policy] = {}
    for p in policies:
        if p.id in seen:
            first = seen[p.id]
            raise PolicyLoadError(
                p.source, p.line, f"policy id {p.id!r} is already defined in {first.source}"
            )
        seen[p.id] = p


@functools.lru_cache(maxsize=1024)
def load_policy_text(
    text: str, source: str, pack: str = "local", *, trusted: bool = False
) -> Policy:
    """One policy file's text as a checked, compiled :class:`Policy`; raises PolicyLoadError.

    Kept per process by the file's content (and its name, pack and trust): a bot process loads
    the same packs and the same repositories' policies for check after check. Policies are
    frozen records, so handing the same one out twice is safe; an error is never kept.

    The command line also keeps what a policy file that loaded read as, between runs
    (``bot.usercache``): reading the YAML of a pack was a tenth of a small scan.
    """
    name = usercache.key(_KEPT_AS, source, pack, str(trusted), text)
    kept = _kept(name)
    doc: safeyaml.Document | None = None
    if kept is None:
        doc = _read(text, source, trusted)
        data: dict[str, Any] = doc.value
        line = doc.line
        fixture_lines = [
            doc.line_of(["fixtures", i]) or doc.line for i in range(len(data.get("fixtures", [])))
        ]
    else:
        data, line, fixture_lines = kept

    def where(field: str) -> int | None:  # (errors only: the YAML read again if it was kept)
        return (doc or _read(text, source, trusted)).line_of(field)

    if data["target"] not in TARGETS:
        raise PolicyLoadError(
            source, where("target"), f"target {data['target']!r} is not available yet"
        )
    exc_cfg = data["exceptions"]
    fixtures = tuple(
        Fixture(
            expect=f["expect"],
            path=f.get("path") or _default_fixture_path(data["target"]),
            content=f.get("content", ""),
            line=fixture_line,
            findings=f.get("findings"),
            pull_request=f.get("pull_request"),
            name=f.get("name", ""),
        )
        for f, fixture_line in zip(data.get("fixtures", []), fixture_lines, strict=True)
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
        line=line,
        fixtures=fixtures,
        tags=tuple(data.get("tags", ())),
    )
    try:
        compiled = compile_policy(policy)
        if not trusted:
            celx.check_compiles(compiled.program)
    except celx.CELCompileError as exc:
        raise PolicyLoadError(
            source, where("condition"), f"condition does not compile: {exc}"
        ) from None
    except MatchError as exc:
        raise PolicyLoadError(source, where("match"), str(exc)) from None
    if kept is None:
        usercache.write(_KEPT, name, marshal.dumps((data, line, fixture_lines)))
    return policy


_KEPT = "policies"
_KEPT_AS = "policy data, line, fixture lines"  # (in each name: what the kept tuple holds)


def _read(text: str, source: str, trusted: bool) -> safeyaml.Document:
    """The policy file's YAML, checked against the schema unless ``trusted``."""
    try:
        doc = safeyaml.load(text, safeyaml.STRICT)
    except safeyaml.YAMLError as exc:
        raise PolicyLoadError(source, exc.line, exc.reason) from None
    if not isinstance(doc.value, dict):
        raise PolicyLoadError(source, doc.line, "a policy file must be a mapping")
    problems = [] if trusted else schema_errors("policy.schema.json", doc, source, text)
    if problems:
        (line, message), *further = problems
        raise PolicyLoadError(source, line, message, tuple(further))
    return doc


def _kept(name: str) -> tuple[dict[str, Any], int, list[int]] | None:
    """A policy file's data, line and fixtures' lines as a run before read them, or None."""
    payload = usercache.read(_KEPT, name)
    if payload is None:
        return None
    try:
        data, line, fixture_lines = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if not (
        isinstance(data, dict)
        and isinstance(line, int)
        and isinstance(fixture_lines, list)
        and len(fixture_lines) == len(data.get("fixtures", []))
    ):
        return None  # (not what this version keeps: read the YAML)
    return data, line, fixture_lines


def _default_fixture_path(target: str) -> str:
    return {"kubernetes": "fixture.yaml", "yaml": "fixture.yaml", "json": "fixture.json"}.get(
        target, "fixture.txt"
    )
