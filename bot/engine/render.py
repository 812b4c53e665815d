"""Helm charts and kustomizations touched by a change: recognised, rendered, and placed back.

A chart's ``templates/`` are Go templates, not manifests: they are never read as YAML. When a
change touches a chart or a kustomization, what gets deployed is the *rendered* output, so that is
what is checked: ``helm template`` for charts (when helm is available), ``kubectl kustomize`` (or
``kustomize build``) for kustomizations. Each rendered resource is fed to the engine under the file
that defines it, and each finding is moved to the line (and, for kustomize patches, the file) that
set the offending field.

Rendering must not let a pull request make the bot fetch a URL or run a program: a kustomization
naming a remote resource or a plugin (generators, transformers, validators, helmCharts), or a chart
with dependencies that are not vendored, is refused before anything runs. What does run gets an
empty environment (PATH and a HOME in a temporary directory), only the files of the tree it
needs, a time limit and an output size limit. This module plans and places purely; the one
function that starts a process is :func:`run_tool`.

It must cost nothing when no chart or kustomization is touched: the tree is listed only when the
change has a file a chart or kustomization could use, and nothing is rendered unless one is hit.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot import safeyaml
from bot.engine.model import EvalError, Finding, ResourceRef, SourceFile

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
TIMEOUT_S = 20.0
MAX_OUTPUT_BYTES = 20_000_000
MAX_TREE_FILES = 5_000
MAX_TREE_BYTES = 50_000_000
HELM_ENV = "COMPLIANCE_BOT_HELM"

# Keys of a kustomization whose entries are loaded as files, directories or URLs.
_LOADED_LISTS = ("resources", "bases", "components", "crds", "configurations")
# Keys that run code (KRM functions, exec or container plugins) or inflate a Helm chart.
_PLUGIN_KEYS = (
    "generators",
    "transformers",
    "validators",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ORIGIN = "config.kubernetes.io/origin"
_TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"
_MANIFEST_CLAIM = (re.compile(r"^apiVersion\s*:", re.M), re.compile(r"^kind\s*:", re.M))
_HELM_SOURCE = re.compile(r"^# Source: (\S+)\s*$", re.M)

NOTE_NO_HELM = (
    "Helm chart `{chart}` not evaluated: its templates can't be checked without rendering. "
    "Install `helm` on the bot's PATH (or set {env} to its path) to render it with `helm template`."
)
NOTE_NO_KUSTOMIZE = (
    "Kustomization `{where}` not evaluated: neither `kubectl` nor `kustomize` is on the bot's PATH."
)
NOTE_TEMPLATE = (
    "`{path}` has template syntax (`{{{{ }}}}`) and is not YAML as written: not checked "
    "(it does not claim to be a Kubernetes manifest)."
)


class Tree(Protocol):
    """The files of the commit under review."""

    def listing(self) -> list[str]: ...  # every file path

    def read(self, paths: Sequence[str]) -> dict[str, bytes]: ...  # absent paths left out


@dataclass(frozen=True)
class GitTree:
    """A commit of a :class:`bot.forge.git.GitRepo` (listed once, however often asked)."""

    repo: Any
    commit: str
    _cache: dict[str, list[str]] = field(default_factory=dict, compare=False)

    def listing(self) -> list[str]:
        if "all" not in self._cache:
            self._cache["all"] = self.repo.list_files(self.commit)
        return self._cache["all"]

    def read(self, paths: Sequence[str]) -> dict[str, bytes]:
        return self.repo.read_files(self.commit, list(paths))


@dataclass(frozen=True)
class Settings:
    """How to render: which programs, and what the repository's config asks."""

    helm: str | None = None
    kustomize: tuple[str, ...] | None = None  # argv prefix: ("kubectl", "kustomize")
    require_chart_rendering: bool = False
    chart_values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # chart dir -> files
    timeout: float = TIMEOUT_S
    max_output: int = MAX_OUTPUT_BYTES

    @classmethod
    def from_environment(
        cls,
        *,
        require_chart_rendering: bool = False,
        chart_values: dict[str, tuple[str, ...]] | None = None,
    ) -> Settings:
        helm = os.environ.get(HELM_ENV) or shutil.which("helm")
        kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
        argv = (kubectl, "kustomize") if kubectl else (kustomize, "build") if kustomize else None
        return cls(
            helm=helm,
            kustomize=argv,  # type: ignore[arg-type]
            require_chart_rendering=require_chart_rendering,
            chart_values=dict(chart_values or {}),
        )


def settings_for(config: Any) -> Settings:
    """Rendering settings from this host and a repository's config (``bot.repoconfig``)."""
    return Settings.from_environment(
        require_chart_rendering=config.require_chart_rendering,
        chart_values=dict(config.chart_values),
    )


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: bytes
    stderr: str
    timed_out: bool = False
    too_large: bool = False


Runner = Callable[[Sequence[str], Path, float, int], RunResult]


def run_tool(argv: Sequence[str], cwd: Path, timeout: float, max_output: int) -> RunResult:
    """Run a renderer with an empty environment, a HOME of its own, a deadline and a size cap."""
    home = cwd / ".home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "HELM_PLUGINS": str(home / "plugins"),  # no helm plugins, whatever the host has
        "KUSTOMIZE_PLUGIN_HOME": str(home / "kustomize-plugins"),
        "KUBECONFIG": os.devnull,
    }
    out_path = home / "stdout"

    def limit() -> None:  # in the child: a larger output gets SIGXFSZ instead of filling a disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_output, max_output))

    with open(out_path, "wb") as out:
        try:
            proc = subprocess.run(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
                timeout=timeout,
                preexec_fn=limit,  # the CLI and the bot's workers fork from one thread
                check=False,
            )
        except subprocess.TimeoutExpired:
            return RunResult(-1, b"", "", timed_out=True)
        except OSError as exc:
            return RunResult(-1, b"", str(exc))
    size = out_path.stat().st_size
    if size >= max_output:
        return RunResult(proc.returncode, b"", "", too_large=True)
    stderr = proc.stderr.decode("utf-8", "replace")[-2000:]
    return RunResult(proc.returncode, out_path.read_bytes(), stderr)


# -- what a change touches --------------------------------------------------------------------


@dataclass(frozen=True)
class Kustomization:
    dir: str  # "" for the repository root
    file: str  # its kustomization file
    data: dict[str, Any]


@dataclass
class _Rendered:
    """One rendered resource, fed to the engine as ``file`` and placed back by ``candidates``."""

    file: SourceFile
    resource: ResourceRef
    candidates: list[tuple[str, safeyaml.Document | None]]  # files that may set a field
    home: tuple[str, int]  # where a finding goes when no candidate sets its field
    template: str | None = None  # the Helm template's text, to find a key's line in
    _doc: safeyaml.Document | None = None

    def rendered_doc(self) -> safeyaml.Document:
        if self._doc is None:
            self._doc = safeyaml.load(self.file.text, safeyaml.MANIFEST)
        return self._doc


@dataclass
class Expansion:
    """What the engine should read instead of the changed files, and what to tell the reader."""

    files: list[SourceFile]
    notes: list[str] = field(default_factory=list)
    errors: list[EvalError] = field(default_factory=list)
    rendered: list[_Rendered] = field(default_factory=list)

    @property
    def placing(self) -> Callable[[list[Finding]], list[Finding]] | None:
        """``place``, for ``check(place=)``, when something was rendered; None otherwise, so that
        findings stream as they come instead of being gathered to be placed."""
        return self.place if self.rendered else None

    def place(self, findings: list[Finding]) -> list[Finding]:
        """Findings on rendered resources moved to the file and line that set the field."""
        if not self.rendered:
            return findings
        index = {(r.file.path, r.resource): r for r in self.rendered}
        out: dict[tuple[Any, ...], Finding] = {}
        for finding in findings:
            hit = index.get((finding.path, finding.resource))
            if hit is not None:
                path, line = _placement(hit, finding.line)
                finding = replace(finding, path=path, line=line)
            # The same resource rendered twice (two overlays of one base) says the same once.
            out.setdefault((finding.policy, finding.path, finding.line, finding.message), finding)
        return sorted(out.values(), key=Finding.sort_key)


def _is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def _ancestors(path: str) -> list[str]:
    """``a/b/c.yaml`` -> ``["a/b", "a", ""]``."""
    out = []
    while path:
        path = posixpath.dirname(path)
        out.append(path)
    return out


def _join(directory: str, name: str) -> str:
    joined = posixpath.normpath(posixpath.join(directory, name)) if directory else name
    return posixpath.normpath(joined)


def _under(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


def chart_of(path: str, files: set[str]) -> str | None:
    """The chart directory a path belongs to (the nearest ancestor with Chart.yaml), or None."""
    for parent in _ancestors(path):
        if _join(parent, CHART_FILE) in files:
            return parent
    return None


def is_chart_template(path: str, chart: str) -> bool:
    rel = path[len(chart) + 1 :] if chart else path
    return rel.startswith("templates/")


def is_remote(entry: str, local: str, files: set[str], dirs: set[str]) -> bool:
    """A kustomization entry (``local``: resolved in the repository) that names something outside
    the repository: a URL, a git remote, or ``host.tld/org/repo`` that is no file or folder here."""
    if _SCHEME.match(entry) or entry.startswith(("git@", "github.com/", "gitlab.com/")):
        return True
    first = entry.split("/", 1)[0]
    return "." in first.strip(".") and local not in files and local not in dirs


def refusal(k: Kustomization, files: set[str], dirs: set[str]) -> str | None:
    """Why building this kustomization is refused (it would fetch a URL or run a program)."""
    for key in _PLUGIN_KEYS:
        if k.data.get(key):
            return f"`{k.file}` uses `{key}`, which runs a plugin or fetches a chart"
    for key in _LOADED_LISTS:
        for entry in _strings(k.data.get(key)):
            if is_remote(entry, _join(k.dir, entry), files, dirs):
                return f"`{k.file}` {key} entry `{entry}` fetches a URL"
    for entry in _nested_paths(k.data):
        if _SCHEME.match(entry) or entry.startswith(("git@", "github.com/")):
            return f"`{k.file}` refers to `{entry}`, which fetches a URL"
    return None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _nested_paths(value: Any) -> Iterable[str]:
    """Every ``path``/``repo``/``url`` string anywhere in a kustomization (patches, openapi...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("path", "repo", "url") and isinstance(item, str):
                yield item
            else:
                yield from _nested_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nested_paths(item)


def _references(k: Kustomization, kustomizations: dict[str, Kustomization]) -> list[str]:
    """Directories of other kustomizations this one loads (resources, bases, components)."""
    out = []
    for key in ("resources", "bases", "components"):
        for entry in _strings(k.data.get(key)):
            target = _join(k.dir, entry)
            if target in kustomizations:
                out.append(target)
    return out


def _closure(root: str, kustomizations: dict[str, Kustomization]) -> list[str]:
    seen: list[str] = []
    todo = [root]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.append(d)
        todo.extend(_references(kustomizations[d], kustomizations))
    return seen


def _patch_files(k: Kustomization) -> list[str]:
    out = [_join(k.dir, e) for e in _strings(k.data.get("patchesStrategicMerge"))]
    for entry in k.data.get("patches") or []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            out.append(_join(k.dir, entry["path"]))
    return out


# -- expanding a change -----------------------------------------------------------------------


def expand(
    files: Sequence[SourceFile],
    changed: Sequence[str],
    tree: Tree,
    settings: Settings,
    runner: Runner = run_tool,
) -> Expansion:
    """The files the engine should read for a change, with charts and kustomizations rendered.

    ``files`` are the changed files' contents at the head; ``changed`` every changed path (a
    deleted file can still change what a kustomization builds).
    """
    result = Expansion(files=list(files))
    if not any(_is_yaml(p) or "/templates/" in f"/{p}" for p in changed):
        return result  # nothing a chart or a kustomization reads: no listing, no rendering
    listing = tree.listing()
    names = set(listing)
    dirs = {a for p in listing for a in _ancestors(p)}
    dropped: set[str] = set()

    charts = sorted({c for p in changed if (c := chart_of(p, names)) is not None})
    for chart in charts:
        _expand_chart(chart, changed, tree, listing, settings, runner, result, dropped)

    kustomizations = _kustomizations(listing, tree)
    if kustomizations:
        _expand_kustomizations(
            kustomizations, changed, tree, listing, names, dirs, settings, runner, result, dropped
        )

    kept: list[SourceFile] = []
    for i, f in enumerate(result.files):
        if i >= len(files):  # rendered
            kept.append(f)
            continue
        if f.path in dropped:
            continue
        if _is_yaml(f.path) and "{{" in f.text and _unreadable_template(f.text):
            result.notes.append(NOTE_TEMPLATE.format(path=f.path))
            continue
        kept.append(f)
    result.files = kept
    return result


def _unreadable_template(text: str) -> bool:
    """Template syntax that doesn't parse as YAML, in a file that doesn't claim to be a manifest
    (one that does is read, and its read error shown: it says it is something we check)."""
    if all(claim.search(text) for claim in _MANIFEST_CLAIM):
        return False
    try:
        safeyaml.load_all(text, safeyaml.MANIFEST)
    except safeyaml.YAMLError:
        return True
    return False


def _kustomizations(listing: list[str], tree: Tree) -> dict[str, Kustomization]:
    paths = [p for p in listing if posixpath.basename(p) in KUSTOMIZATION_NAMES]
    if not paths:
        return {}
    contents = tree.read(paths)
    out: dict[str, Kustomization] = {}
    for path in sorted(paths):
        directory = posixpath.dirname(path)
        if directory in out:
            continue  # kustomize itself refuses a directory with two; so will the build
        try:
            data = safeyaml.load(contents.get(path, b""), safeyaml.STRICT).value
        except safeyaml.YAMLError:
            data = None
        out[directory] = Kustomization(directory, path, data if isinstance(data, dict) else {})
    return out


def _materialise(tree: Tree, listing: list[str], roots: Iterable[str], into: Path) -> str | None:
    """Write the files under ``roots`` into ``into``; a reason when the tree is too large."""
    roots = list(roots)
    wanted = [p for p in listing if any(_under(p, r) for r in roots)]
    if len(wanted) > MAX_TREE_FILES:
        return f"more than {MAX_TREE_FILES} files"
    contents = tree.read(wanted)
    if sum(len(b) for b in contents.values()) > MAX_TREE_BYTES:
        return f"more than {MAX_TREE_BYTES // 1_000_000} MB"
    for path, data in contents.items():
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return None


def _failure(what: str, result: RunResult, settings: Settings) -> str:
    if result.timed_out:
        return f"{what} took longer than {settings.timeout:g} s and was stopped"
    if result.too_large:
        return f"{what} produced more than {settings.max_output // 1_000_000} MB and was stopped"
    return f"{what} failed: {result.stderr.strip() or f'exit {result.returncode}'}"


def _expand_kustomizations(
    kustomizations: dict[str, Kustomization],
    changed: Sequence[str],
    tree: Tree,
    listing: list[str],
    names: set[str],
    dirs: set[str],
    settings: Settings,
    runner: Runner,
    result: Expansion,
    dropped: set[str],
) -> None:
    loaded = {d for k in kustomizations.values() for d in _references(k, kustomizations)}
    # Roots only: a base is checked as its overlays deploy it, not on its own.
    roots = [d for d in sorted(kustomizations) if d not in loaded]
    for root in roots:
        closure = _closure(root, kustomizations)
        if not any(any(_under(p, d) for d in closure) for p in changed):
            continue
        where = kustomizations[root].file
        reason = next((r for d in closure if (r := refusal(kustomizations[d], names, dirs))), None)
        if reason is not None:
            result.notes.append(
                f"Kustomization `{where}` refused, not built: {reason}. Rendering never fetches a "
                "URL or runs a plugin; its files were checked as written."
            )
            continue
        if settings.kustomize is None:
            result.notes.append(NOTE_NO_KUSTOMIZE.format(where=where))
            continue
        with tempfile.TemporaryDirectory(prefix="compliance-kustomize-") as tmp:
            work = Path(tmp) / "tree"
            too_big = _materialise(tree, listing, closure, work)
            if too_big:
                result.errors.append(
                    EvalError(f"kustomization not built: its tree has {too_big}", path=where)
                )
                continue
            _with_origins(work, kustomizations[root])
            argv = [*settings.kustomize, root or "."]
            run = runner(argv, work, settings.timeout, settings.max_output)
        if run.timed_out or run.too_large or run.returncode != 0:
            result.errors.append(EvalError(_failure("kustomize build", run, settings), path=where))
            continue
        patches = [p for d in closure for p in _patch_files(kustomizations[d])]
        inputs = [p for p in listing if any(_under(p, d) for d in closure)]
        try:
            rendered = _kustomize_resources(run.stdout, root, where, patches, tree, changed)
        except safeyaml.YAMLError as exc:
            result.errors.append(EvalError(f"kustomize output unreadable: {exc}", path=where))
            continue
        dropped.update(inputs)  # judged as built, not as written
        result.rendered.extend(rendered)
        result.files.extend(r.file for r in rendered)


def _with_origins(work: Path, k: Kustomization) -> None:
    """Ask kustomize to name each resource's file (``buildMetadata: [originAnnotations]``).

    JSON is YAML, so the rewritten kustomization needs no YAML writer."""
    data = dict(k.data)
    meta = [m for m in _strings(data.get("buildMetadata")) if m != "originAnnotations"]
    data["buildMetadata"] = [*meta, "originAnnotations"]
    (work / k.file).write_text(json.dumps(data))


def _kustomize_resources(
    output: bytes,
    root: str,
    where: str,
    patches: list[str],
    tree: Tree,
    changed: Sequence[str],
) -> list[_Rendered]:
    docs = safeyaml.load_all(output, safeyaml.MANIFEST)
    sources: dict[str, list[safeyaml.Document]] = {}
    wanted = set(patches)
    origins = []
    for doc in docs:
        value = doc.value
        if not isinstance(value, dict):
            continue
        annotations = (value.get("metadata") or {}).get("annotations") or {}
        origin = annotations.get(_ORIGIN) if isinstance(annotations, dict) else None
        path = None
        if isinstance(origin, str):
            m = re.search(r"^path:\s*(\S+)", origin, re.M)
            if m and not _SCHEME.match(m.group(1)):
                path = _join(root, m.group(1))
        origins.append((value, path))
        if path:
            wanted.add(path)
    contents = tree.read(sorted(wanted))
    for path, data in contents.items():
        try:
            sources[path] = safeyaml.load_all(data, safeyaml.MANIFEST)
        except safeyaml.YAMLError:
            sources[path] = []
    out: list[_Rendered] = []
    for value, path in origins:
        value = _without_build_annotations(value)
        kind = value.get("kind") if isinstance(value.get("kind"), str) else ""
        meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        name = meta.get("name") if isinstance(meta.get("name"), str) else None
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
        definer = _matching_doc(sources.get(path or "", []), kind, name)
        candidates: list[tuple[str, safeyaml.Document | None]] = []
        # A patch changed by this change set what it says: it goes first; then the definition.
        for patch in sorted(patches, key=lambda p: p not in changed):
            doc = _matching_doc(sources.get(patch, []), kind, name, exact=True)
            if doc is not None:
                candidates.append((patch, doc))
        if path is not None:
            candidates.append((path, definer))
        home = (path, definer.line) if path and definer else (path or where, 1)
        out.append(
            _Rendered(
                SourceFile(path or where, json.dumps(value, indent=1)),
                ResourceRef(kind, name, namespace),
                candidates,
                home,
            )
        )
    return out


def _without_build_annotations(value: dict[str, Any]) -> dict[str, Any]:
    meta = value.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("annotations"), dict):
        return value
    annotations = {
        k: v for k, v in meta["annotations"].items() if k not in (_ORIGIN, _TRANSFORMATIONS)
    }
    meta = {**meta, "annotations": annotations}
    if not annotations:
        del meta["annotations"]
    return {**value, "metadata": meta}


def _matching_doc(
    docs: list[safeyaml.Document], kind: str, name: str | None, *, exact: bool = False
) -> safeyaml.Document | None:
    """The document defining (or patching) a resource; rendered names may carry a prefix or a
    suffix, so a name contained in the rendered one matches. ``exact``: kind and a name needed."""
    same_kind = [d for d in docs if isinstance(d.value, dict) and d.value.get("kind") == kind]
    for doc in same_kind:
        own = (doc.value.get("metadata") or {}).get("name")
        if isinstance(own, str) and name is not None and own in name:
            return doc
    if exact or not same_kind:
        return None
    return same_kind[0]


# -- charts -----------------------------------------------------------------------------------


def _expand_chart(
    chart: str,
    changed: Sequence[str],
    tree: Tree,
    listing: list[str],
    settings: Settings,
    runner: Runner,
    result: Expansion,
    dropped: set[str],
) -> None:
    label = chart or "."
    chart_files = {p for p in listing if _under(p, chart)}
    dropped.update(p for p in changed if is_chart_template(p, chart))
    if settings.helm is None:
        message = NOTE_NO_HELM.format(chart=label, env=HELM_ENV)
        if settings.require_chart_rendering:
            result.errors.append(
                EvalError(
                    message + " (required by charts.require_rendering)",
                    path=_join(chart, CHART_FILE),
                )
            )
        else:
            result.notes.append(message)
        return
    chart_file = _join(chart, CHART_FILE)
    meta = tree.read([chart_file]).get(chart_file, b"")
    try:
        data = safeyaml.load(meta, safeyaml.STRICT).value
    except safeyaml.YAMLError:
        data = None
    deps = data.get("dependencies") if isinstance(data, dict) else None
    for dep in deps if isinstance(deps, list) else []:
        if not isinstance(dep, dict):
            continue
        dep_name, repo = str(dep.get("name", "")), str(dep.get("repository", ""))
        vendored = any(p.startswith(_join(chart, f"charts/{dep_name}")) for p in chart_files)
        if not vendored and not repo.startswith("file://"):
            result.notes.append(
                f"Helm chart `{label}` refused, not rendered: dependency `{dep_name}` is not "
                f"vendored in `charts/` and would be fetched from `{repo}`. Rendering never "
                "fetches a URL; vendor it (`helm dependency build`) to have the chart checked."
            )
            return
    values = [v for v in settings.chart_values.get(chart, ()) if _join(chart, v) in chart_files]
    with tempfile.TemporaryDirectory(prefix="compliance-helm-") as tmp:
        work = Path(tmp) / "tree"
        too_big = _materialise(tree, listing, [chart], work)
        if too_big:
            message = f"chart not rendered: it has {too_big}"
            result.errors.append(EvalError(message, path=chart_file))
            return
        argv = [settings.helm, "template", "release", chart or "."]
        for v in values:
            argv += ["--values", _join(chart, v)]
        run = runner(argv, work, settings.timeout, settings.max_output)
    if run.timed_out or run.too_large or run.returncode != 0:
        result.errors.append(EvalError(_failure("helm template", run, settings), path=chart_file))
        return
    try:
        rendered = _helm_resources(run.stdout.decode("utf-8", "replace"), chart, tree)
    except safeyaml.YAMLError as exc:
        result.errors.append(EvalError(f"helm output unreadable: {exc}", path=chart_file))
        return
    result.rendered.extend(rendered)
    result.files.extend(r.file for r in rendered)


def _helm_resources(output: str, chart: str, tree: Tree) -> list[_Rendered]:
    """Each document of ``helm template`` output, under the template named by its
    ``# Source: <chart>/templates/x.yaml`` line."""
    pieces = re.split(r"^---\s*$", output, flags=re.M)
    parsed = []
    for piece in pieces:
        m = _HELM_SOURCE.search(piece)
        source = None
        if m:  # "<chart name>/templates/x.yaml": the chart's name, not its directory
            rel = m.group(1).split("/", 1)[1] if "/" in m.group(1) else m.group(1)
            source = _join(chart, rel)
        for doc in safeyaml.load_all(piece, safeyaml.MANIFEST):
            if isinstance(doc.value, dict):
                parsed.append((doc.value, source))
    texts = tree.read(sorted({s for _, s in parsed if s}))
    out = []
    for value, source in parsed:
        kind = value.get("kind") if isinstance(value.get("kind"), str) else ""
        meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        name = meta.get("name") if isinstance(meta.get("name"), str) else None
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
        path = source if source in texts else _join(chart, CHART_FILE)
        raw = texts[path].decode("utf-8", "replace") if path in texts else None
        out.append(
            _Rendered(
                SourceFile(path, json.dumps(value, indent=1)),
                ResourceRef(kind, name, namespace),
                [],
                (path, 1),
                raw,
            )
        )
    return out


# -- placing findings -------------------------------------------------------------------------


def _paths_at(doc: safeyaml.Document, line: int) -> list[list[Any]]:
    """Field paths whose key sits on ``line`` of a document, longest first."""
    found: list[list[Any]] = []

    def walk(node: Any, prefix: list[Any]) -> None:
        table = doc.lines.get(id(node))
        if table is None:
            return
        for key, key_line in table.items():
            try:
                child = node[key]
            except (KeyError, IndexError, TypeError):
                continue
            if key_line == line:
                found.append([*prefix, key])
            walk(child, [*prefix, key])

    walk(doc.value, [])
    return sorted(found, key=len, reverse=True)


def _exact_line(doc: safeyaml.Document, parts: list[Any]) -> int | None:
    node, found = doc.value, None
    for part in parts:
        table = doc.lines.get(id(node))
        if table is None or part not in table:
            return None
        found = table[part]
        node = node[part]
    return found


def _placement(rendered: _Rendered, line: int) -> tuple[str, int]:
    """The file and line that set the field on ``line`` of the rendered resource: a patch that
    writes exactly that field, else the definition; failing that, where the resource begins."""
    try:
        paths = _paths_at(rendered.rendered_doc(), line)
    except safeyaml.YAMLError:
        paths = []
    for parts in paths:
        for path, doc in rendered.candidates:
            if doc is not None and (at := _exact_line(doc, parts)) is not None:
                return path, at
    path, raw = rendered.home
    if rendered.template is not None and paths:  # the line that writes the key, if only one does
        key = next((p for p in reversed(paths[0]) if isinstance(p, str)), None)
        if key is not None:
            hits = [
                i
                for i, text in enumerate(rendered.template.splitlines(), 1)
                if re.match(rf"\s*(- )?{re.escape(key)}\s*:", text)
            ]
            if len(hits) == 1:
                return path, hits[0]
    return path, raw
