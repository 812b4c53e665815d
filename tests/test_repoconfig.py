"""``.compliance/config.yaml``: an ``enforce`` entry that matches no policy is an error on its
line (a typo must not silently enforce nothing); ``exclude:`` globs, checked and applied; and
every way a config change loosens the rules, named on its line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checking import check, load_rules
from bot.engine.model import SourceFile
from bot.repoconfig import Loosening, RepoConfig, loosenings, parse_config

CONFIG = """\
enforce:
  - k8s.run-as-non-root
  - k8s.host-network
  - "k8s.seccomp*"
  - nothing.like.this
"""


def rules(config: str):  # type: ignore[no-untyped-def]
    files = {".compliance/config.yaml": config}
    return load_rules(files.get, lambda d: [])


def test_unknown_enforce_entries_are_errors_naming_their_line():
    errors = [e for e in rules(CONFIG).errors if e.path == ".compliance/config.yaml"]
    assert [(e.line, e.message) for e in errors] == [
        (3, "enforce: k8s.host-network matches no policy (did you mean k8s.host-namespaces?)"),
        (5, "enforce: nothing.like.this matches no policy"),
    ]


def test_known_ids_and_patterns_enforce_without_errors():
    loaded = rules("enforce:\n  - k8s.run-as-non-root\n  - 'k8s.seccomp*'\n")
    assert loaded.errors == []
    enforced = {p.id: p.enforcement for p in loaded.policies}
    assert enforced["k8s.run-as-non-root"] == "blocking"


# -- exclude: ------------------------------------------------------------------------------------


PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers:
    - name: app
      image: registry.example/app:1.0
      securityContext: {privileged: true}
"""


def test_exclude_globs_are_read_with_their_lines_and_anchored_at_the_root():
    config = parse_config("version: 1\nexclude:\n  - tests/fixtures/**\n  - /vendor/charts/**\n")
    assert config.errors == []
    assert config.exclude == ("tests/fixtures/**", "/vendor/charts/**")
    assert (config.lines["exclude.0"], config.lines["exclude.1"]) == (3, 4)
    assert config.excluding("tests/fixtures/bad/pod.yaml") == "tests/fixtures/**"
    assert config.excluding("vendor/charts/x/values.yaml") == "/vendor/charts/**"
    assert config.excluding("app/tests/fixtures/pod.yaml") is None  # anchored: not anywhere
    kept, excluded = config.split_excluded(["a.yaml", "tests/fixtures/x.yaml"])
    assert (kept, excluded) == (["a.yaml"], {"tests/fixtures/**": ["tests/fixtures/x.yaml"]})


@pytest.mark.parametrize(
    ("glob", "fragment"),
    [
        ("!keep/**", "negated globs are not supported"),
        ("deploy\\\\bad/**", "use '/' between folders"),
        ("deploy/../secrets/**", "'..' can't be in a glob"),
        ("**", "would exclude every file"),
        ("/**/**", "would exclude every file"),
        ("**/*", "would exclude every file"),
        ("/", "names no path"),
    ],
)
def test_an_exclusion_that_is_unsafe_or_excludes_everything_is_an_error_on_its_line(glob, fragment):
    config = parse_config(f'version: 1\npacks: [kubernetes]\nexclude:\n  - ok/**\n  - "{glob}"\n')
    [error] = config.errors
    assert (error.path, error.line) == (".compliance/config.yaml", 5)
    assert fragment in error.message and error.message.startswith("exclude: ")
    assert config.exclude == ()  # a broken config excludes nothing


def test_a_non_list_exclude_is_a_schema_error_naming_the_field():
    [error] = parse_config("version: 1\nexclude: tests/**\n").errors
    assert error.line == 2 and "exclude" in error.message


def test_check_evaluates_nothing_excluded_and_says_what_it_kept_out():
    rules = load_rules(
        {".compliance/config.yaml": "version: 1\nexclude: [tests/fixtures/**]\n"}.get,
        lambda d: [],
    )
    report = check(
        rules,
        [
            SourceFile("tests/fixtures/bad.yaml", PRIVILEGED),
            SourceFile("deploy/bad.yaml", PRIVILEGED),
        ],
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert {f.finding.path for f in report.findings} == {"deploy/bad.yaml"}
    assert report.exclude == ("tests/fixtures/**",)
    assert report.excluded == {"tests/fixtures/**": ["tests/fixtures/bad.yaml"]}
    assert report.to_json()["exclusions"]["excluded"] == {
        "tests/fixtures/**": ["tests/fixtures/bad.yaml"]
    }


# -- loosening -----------------------------------------------------------------------------------

IDS = ["k8s.image-tag", "k8s.privileged", "k8s.run-as-non-root", "secrets.aws-key"]
PACKS = ["kubernetes", "secrets"]

BASE = """\
version: 1
packs: [kubernetes, secrets]
enforce: [k8s.image-tag, "k8s.run-as-*"]
exclude: [tests/fixtures/**]
exceptions: {required_approvals: 2, max_renewals: 2, require_ticket: true}
charts: {require_rendering: true, values: {charts/web: [values-prod.yaml]}}
dashboard: {enabled: true}
notifications:
  routes:
    - {kinds: [bypass], to: [security]}
"""


def loosened(head: str, base: str = BASE) -> list[tuple[str, str, int | None]]:
    base_config, head_config = parse_config(base), parse_config(head)
    assert base_config.errors == [] and head_config.errors == []
    return [(x.key, x.message, x.line) for x in loosenings(base_config, head_config, IDS, PACKS)]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "exclude: [tests/fixtures/**]",
            "exclude: [tests/fixtures/**, vendor/**]",
            [("exclude", "adds the exclusion 'vendor/**'", 4)],
        ),
        (
            "packs: [kubernetes, secrets]",
            "packs: [kubernetes]",
            [("packs", "turns off the 'secrets' pack", 2)],
        ),
        (
            'enforce: [k8s.image-tag, "k8s.run-as-*"]',
            "enforce: [k8s.image-tag]",
            [("enforce", "stops enforcing k8s.run-as-non-root", 3)],
        ),
        (
            "required_approvals: 2",
            "required_approvals: 1",
            [
                (
                    "exceptions.required_approvals",
                    "lowers exceptions.required_approvals from 2 to 1",
                    5,
                )
            ],
        ),
        (
            "max_renewals: 2",
            "max_renewals: 5",
            [("exceptions.max_renewals", "raises exceptions.max_renewals from 2 to 5", 5)],
        ),
        (
            "require_ticket: true",
            "require_ticket: false",
            [("exceptions.require_ticket", "stops requiring a ticket on exceptions", 5)],
        ),
        (
            "require_rendering: true",
            "require_rendering: false",
            [
                (
                    "charts.require_rendering",
                    "stops failing the check when a chart can't be rendered",
                    6,
                )
            ],
        ),
        (
            "values-prod.yaml",
            "values-dev.yaml",
            [("charts.values", "changes the values files charts are rendered with", 6)],
        ),
        (
            "dashboard: {enabled: true}",
            "dashboard: {enabled: false}",
            [("dashboard.enabled", "turns off the dashboard issue", 7)],
        ),
        (
            "kinds: [bypass]",
            "kinds: [bypass.forged_status]",
            [("notifications", "stops sending bypass to security", 8)],
        ),
    ],
)
def test_each_way_a_config_change_loosens_the_rules_is_named_on_its_line(old, new, expected):
    assert old in BASE
    assert loosened(BASE.replace(old, new)) == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("exclude: [tests/fixtures/**]", "exclude: []"),  # fewer exclusions: stricter
        (
            'enforce: [k8s.image-tag, "k8s.run-as-*"]',
            "enforce: [k8s.image-tag, k8s.run-as-non-root]",
        ),
        ('enforce: [k8s.image-tag, "k8s.run-as-*"]', 'enforce: ["k8s.*"]'),  # covers more
        ("required_approvals: 2", "required_approvals: 3"),
        ("max_renewals: 2", "max_renewals: 0"),
        ("packs: [kubernetes, secrets]\n", ""),  # no packs: key means every bundled pack
        ("kinds: [bypass]", "kinds: [bypass, exception]"),
    ],
)
def test_tightening_or_an_equivalent_rewrite_loosens_nothing(old, new):
    assert old in BASE
    assert loosened(BASE.replace(old, new)) == []


def test_deleting_the_config_drops_what_it_enforced_and_listed():
    got = loosenings(parse_config(BASE), RepoConfig(), IDS, PACKS)
    assert [x.key for x in got] == [
        "enforce",
        "exceptions.required_approvals",
        "exceptions.max_renewals",  # back to the default, 3
        "exceptions.require_ticket",
        "charts.require_rendering",
        "charts.values",
        "notifications",
    ]
    assert all(isinstance(x, Loosening) and x.line is None for x in got)
