"""Schema verdicts kept between command-line runs (bot/verdicts.py): a config, a repository
policy or an exceptions file that passed its schema is not checked again, so a later command
starts without jsonschema; a text with problems is checked, and reported, every time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import schemas, usercache, verdicts
from bot.exemptions import parse as parse_exemptions
from bot.repoconfig import parse_config

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: nginx:1.27
      securityContext: {privileged: true}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".compliance").mkdir(parents=True)
    (root / ".compliance" / "config.yaml").write_text("packs: [kubernetes]\n")
    (root / "pod.yaml").write_text(POD)
    return root


def test_a_valid_config_is_checked_once_then_remembered(folder: Path, tmp_path: Path, fresh_scan):
    cache = tmp_path / "cache"
    first = fresh_scan(folder, cache)
    second = fresh_scan(folder, cache)
    assert "jsonschema" in first["loaded"] and "jsonschema" not in second["loaded"]
    assert len(list((cache / "schema-verdicts").iterdir())) == 1
    # the same report either way
    assert json.loads(first["report"]) == json.loads(second["report"])
    assert first["code"] == second["code"] == 1  # the privileged pod blocks


def test_a_config_with_problems_is_checked_and_reported_every_time(
    folder: Path, tmp_path: Path, fresh_scan
):
    cache = tmp_path / "cache"
    fresh_scan(folder, cache)  # the valid config is remembered
    (folder / ".compliance" / "config.yaml").write_text("packs: [kubernetes]\nenforce: yes\n")
    for _ in range(2):
        run = fresh_scan(folder, cache)
        assert "jsonschema" in run["loaded"]
        errors = json.loads(run["report"])["errors"]
        assert [e["path"] for e in errors] == [".compliance/config.yaml"]
        assert "enforce" in errors[0]["message"] and errors[0]["line"] == 2
    assert len(list((cache / "schema-verdicts").iterdir())) == 1  # still only the valid one


def test_no_cache_folder_means_every_run_checks(folder: Path, fresh_scan):
    assert "jsonschema" in fresh_scan(folder, None)["loaded"]
    assert "jsonschema" in fresh_scan(folder, None)["loaded"]


def test_a_cache_that_cannot_be_written_is_no_cache(folder: Path, tmp_path: Path, fresh_scan):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n")
    first, second = fresh_scan(folder, blocker), fresh_scan(folder, blocker)
    assert "jsonschema" in first["loaded"] and "jsonschema" in second["loaded"]
    assert json.loads(first["report"]) == json.loads(second["report"])


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[Path]:
    usercache.use(tmp_path)
    yield tmp_path / "schema-verdicts"
    usercache.use(None)


def test_the_verdict_is_for_that_text_and_that_schema(kept: Path):
    schema = schemas.text("config.schema.json")
    assert not verdicts.known_valid(schema, "packs: [kubernetes]\n")
    verdicts.remember_valid(schema, "packs: [kubernetes]\n")
    assert verdicts.known_valid(schema, "packs: [kubernetes]\n")
    assert not verdicts.known_valid(schema, "packs: [kubernetes]\n\n")
    assert not verdicts.known_valid(schemas.text("policy.schema.json"), "packs: [kubernetes]\n")


def test_verdicts_are_kept_only_once_turned_on(tmp_path: Path):
    usercache.use(None)
    assert parse_config("packs: [kubernetes]\n").errors == []
    assert not (tmp_path / "schema-verdicts").exists()


def test_config_and_exceptions_file_verdicts(kept: Path):
    assert parse_config("packs: [kubernetes]\n").packs == ("kubernetes",)
    assert len(list(kept.iterdir())) == 1
    bad = parse_config("packs: kubernetes\n")
    assert [e.line for e in bad.errors] == [1] and "packs" in bad.errors[0].message
    assert len(list(kept.iterdir())) == 1

    valid = (
        "version: 1\nexceptions:\n  - id: legacy-web\n    policy: k8s.privileged\n"
        "    paths: [pod.yaml]\n    reason: the vendor's agent needs the host\n"
        "    ticket: OPS-1\n    expires: 2030-01-01\n    requested_by: alice\n"
    )
    parsed, problems = parse_exemptions(valid)
    assert parsed is not None and problems == []
    assert len(list(kept.iterdir())) == 2
    again, problems = parse_exemptions(valid)
    assert again == parsed and problems == []
    _, problems = parse_exemptions(valid.replace("    ticket: OPS-1\n", "    tiket: OPS-1\n"))
    assert any("tiket" in p.message for p in problems)
    assert len(list(kept.iterdir())) == 2


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"COMPLIANCE_BOT_CACHE_DIR": "/srv/cache", "HOME": "/home/a"}, Path("/srv/cache")),
        ({"COMPLIANCE_BOT_CACHE_DIR": "", "HOME": "/home/a"}, None),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/home/a"}, Path("/x/compliance-bot")),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/home/a"}, Path("/home/a/.cache/compliance-bot")),
        ({"HOME": "/home/a"}, Path("/home/a/.cache/compliance-bot")),
        ({}, None),
    ],
)
def test_where_the_cache_is(environ: dict[str, str], expected: Path | None):
    assert usercache.cache_root(environ) == expected


def test_a_cache_folder_others_can_write_to_is_not_used(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # (not sticky: anyone could plant a verdict here)
    try:
        usercache.use(shared)
        verdicts.remember_valid(schemas.text("config.schema.json"), "packs: [kubernetes]\n")
        assert not verdicts.known_valid(schemas.text("config.schema.json"), "packs: [kubernetes]\n")
        assert not (shared / "schema-verdicts").exists()
        own = tmp_path / "own"
        usercache.use(own)  # not made yet: made private when first written
        verdicts.remember_valid(schemas.text("config.schema.json"), "packs: [kubernetes]\n")
        assert verdicts.known_valid(schemas.text("config.schema.json"), "packs: [kubernetes]\n")
        assert (own / "schema-verdicts").stat().st_mode & 0o077 == 0
    finally:
        usercache.use(None)
