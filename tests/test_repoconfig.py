"""``.compliance/config.yaml``: an ``enforce`` entry that matches no policy is an error on its
line (a typo must not silently enforce nothing)."""

from __future__ import annotations

from bot.checking import load_rules

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
