"""Shared pytest configuration: the fake forge fixtures, the golden-file fixture, and an empty
migrated store on SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest_plugins = ["fakes.github.fixtures", "fakes.gitlab.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The command line keeps schema verdicts and compiled conditions in the user's cache folder
    (``bot/usercache.py``): the suite's commands, run here or as subprocesses, keep theirs in a
    folder of their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPLIANCE_BOT_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))
        yield


# Runs ``compliance-bot`` in a fresh interpreter and lists, after the command, which of these
# modules were ever imported (a command loads what it uses: issue 14).
SCAN_PROBE = """\
import io, json, sys
from contextlib import redirect_stdout
from bot.cli import main
out = io.StringIO()
with redirect_stdout(out):
    code = main(sys.argv[1:])
watched = ["cel", "concurrent.futures", "subprocess", "tempfile", "bot.forge.git", "jsonschema",
           "bot.exemptions.model", "bot.exemptions.parsing", "bot.report.sarif",
           "bot.report.markdown", "pathspec"]
print(json.dumps({"code": code, "loaded": [m for m in watched if m in sys.modules],
                  "report": out.getvalue()}))
"""


@pytest.fixture(scope="session")
def fresh_scan() -> Callable[..., dict]:
    """``fresh_scan(folder, cache, *args)``: ``compliance-bot scan . --format json *args`` in
    ``folder``, in a fresh interpreter keeping its user cache in ``cache`` (None: no cache);
    its exit code, the watched modules it loaded, and its report."""
    repo = Path(__file__).resolve().parents[1]

    def scan(folder: Path, cache: Path | None, *args: str) -> dict:
        env = dict(os.environ, PYTHONPATH=str(repo))
        env["COMPLIANCE_BOT_CACHE_DIR"] = str(cache) if cache is not None else ""
        done = subprocess.run(
            [sys.executable, "-c", SCAN_PROBE, "scan", ".", "--format", "json", *args],
            cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    return scan


@pytest.fixture(autouse=True)
def user_cache_left_off() -> Iterator[None]:
    """A test that runs ``main`` in-process turns the user cache on for the whole process (as
    the command line does): the next test starts with it off again, as the service has it, so
    that what one test kept can't stand in for what another one compiles or reads."""
    yield
    from bot import usercache

    usercache.use(None)


@pytest.fixture(scope="session")
def bench_engine() -> ModuleType:
    """``benchmarks/engine.py``, for its seeded manifest writers (``ManifestWriter``,
    ``HeavyWriter``, ``write_heavy``): tests run on the corpora the benchmarks measure."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"
    spec = importlib.util.spec_from_file_location("bench_engine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_engine", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare ``text`` with ``golden/<name>`` beside the test file.

    ``UPDATE_GOLDEN=1 pytest ...`` rewrites the files from the current output instead; review the
    diff like any other change. Golden files hold user-visible text (check summaries, replies).
    """
    directory = request.path.parent / "golden"

    def check(name: str, text: str) -> None:
        path = directory / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            directory.mkdir(exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 to create it"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"

    return check


@pytest.fixture(scope="session")
def adaptive_card_errors() -> Callable[[dict], list[str]]:
    """Problems of an Adaptive Card against the published schema (``tests/vendor/adaptivecards``);
    an empty list when it is valid."""
    import json
    from pathlib import Path

    import jsonschema

    path = Path(__file__).parent / "vendor" / "adaptivecards" / "adaptive-card-1.5.json"
    schema = json.loads(path.read_text("utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)

    def errors(card: dict) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(card)
        ]

    return errors


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path: Path):
    """(SQLAlchemy URL, DATABASE_URL to give the command line) of an empty, migrated store."""
    from e2e.harness import ScratchDatabase, require_services, services_available

    from bot.store import migrate

    scratch = None
    if request.param == "postgres":
        missing = services_available()
        if missing:
            if require_services():
                pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
            pytest.skip(missing)
        scratch = ScratchDatabase()
        url = scratch.url.replace("postgresql://", "postgresql+psycopg://")
        env_url = scratch.url
    else:
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        env_url = url
    migrate(url)
    yield url, env_url
    if scratch:
        scratch.drop()


@pytest.fixture
def store(database):
    """A ``Store`` on ``database``."""
    from bot.store import Store

    store = Store(database[0])
    yield store
    store.dispose()
