"""The ``text`` target: where matches are, what a policy sees of them, and what it refuses to read.

Secrets policies annotate the line a match starts on, so line numbers are the contract tested
hardest here; RE2 is tested for the reason it was chosen (no catastrophic backtracking).
"""

from __future__ import annotations

import time

import pytest

from bot.engine.evaluate import Engine
from bot.engine.loader import PolicyLoadError, load_policy_text
from bot.engine.model import SourceFile
from bot.engine.targets import TARGETS, MatchError
from bot.engine.targets.base import TargetError
from bot.engine.targets.text import MAX_TEXT_CHARS

TEXT = TARGETS["text"]


def matches(pattern: str, text: str, path: str = "f.txt") -> list[dict]:
    """The CEL variables of every subject the pattern selects in ``text``."""
    compiled = TEXT.compile_match({"pattern": pattern})
    out = []
    for subject in TEXT.subjects(SourceFile(path, text)):
        for selected in TEXT.select(compiled, subject):
            assert selected.line == selected.variables["number"]
            out.append(selected.variables)
    return out


def where(pattern: str, text: str) -> list[tuple[int, str]]:
    return [(v["number"], v["match"]) for v in matches(pattern, text)]


# --- line numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TOKEN here\nsecond\nthird\n", [(1, "TOKEN")]),
        ("first\nsecond TOKEN\nthird\n", [(2, "TOKEN")]),
        ("first\nsecond\nthird TOKEN\n", [(3, "TOKEN")]),
        ("first\nsecond\nTOKEN", [(3, "TOKEN")]),  # last line without a newline
        ("\n\n\nTOKEN\n", [(4, "TOKEN")]),  # blank lines still count
        ("TOKEN\nTOKEN\n\nTOKEN", [(1, "TOKEN"), (2, "TOKEN"), (4, "TOKEN")]),
    ],
    ids=["first", "middle", "last", "last-no-newline", "after-blank-lines", "several"],
)
def test_line_numbers(text, expected):
    assert where("TOKEN", text) == expected


def test_line_numbers_with_crlf():
    text = "first\r\nsecond TOKEN\r\nthird\r\nTOKEN\r\n"
    assert where("TOKEN", text) == [(2, "TOKEN"), (4, "TOKEN")]


def test_line_numbers_count_characters_not_bytes():
    # google-re2 reports offsets in characters for str input; multi-byte text before a match
    # must not push it onto a later line.
    text = "é" * 50 + "\n" + "日本語 TOKEN\n" + "ü\nTOKEN"
    assert where("TOKEN", text) == [(2, "TOKEN"), (4, "TOKEN")]


def test_multi_line_match_is_reported_on_its_first_line():
    text = "a\nb\nBEGIN\nbody\nEND\n"
    found = matches(r"BEGIN\n[a-z]+\nEND", text)
    assert [(v["number"], v["line"]) for v in found] == [(3, "BEGIN")]


# --- what the condition sees ---------------------------------------------------------------------


def test_several_matches_on_one_line_are_separate_subjects():
    found = matches(r"key=(\w+)", "x key=one y key=two z key=three\nkey=four")
    assert [(v["number"], v["match"], v["groups"]) for v in found] == [
        (1, "key=one", ["one"]),
        (1, "key=two", ["two"]),
        (1, "key=three", ["three"]),
        (2, "key=four", ["four"]),
    ]
    assert {v["line"] for v in found[:3]} == {"x key=one y key=two z key=three"}


def test_variables_of_a_match():
    (v,) = matches(r"(A)(B)?(C)", "zero\none AC two\n", path="src/app.py")
    assert v == {
        "match": "AC",
        "groups": ["A", "", "C"],  # the group that did not take part is an empty string
        "line": "one AC two",
        "number": 2,
        "path": "src/app.py",
    }


def test_line_variable_has_no_carriage_return():
    (v,) = matches("TOKEN", "a\r\nTOKEN here\r\nb\r\n")
    assert v["line"] == "TOKEN here"


def test_no_match_no_subjects():
    assert matches("TOKEN", "nothing to see\n") == []


# --- files the target does not read --------------------------------------------------------------


def test_binary_files_are_skipped():
    binary = "PK\x03\x04\x00\x00TOKEN\x00\x01TOKEN"
    assert TEXT.subjects(SourceFile("app.jar", binary)) == []
    assert matches("TOKEN", binary) == []
    # the same text without NUL bytes is read
    assert len(matches("TOKEN", binary.replace("\x00", " "))) == 2


def test_files_over_the_size_cap_are_an_error_not_a_silent_skip():
    # Fail closed: padding a file must not hide a secret in it.
    big = "TOKEN\n" + "x" * MAX_TEXT_CHARS
    with pytest.raises(TargetError, match="too large"):
        TEXT.subjects(SourceFile("big.txt", big))
    assert where("TOKEN", big[: MAX_TEXT_CHARS - 10]) == [(1, "TOKEN")]


def test_empty_matches_are_skipped_and_matches_capped():
    assert matches("x*", "abc") == []
    with pytest.raises(TargetError, match="more than 1,000 times"):
        matches("x", "x" * 5000)


# --- loading: the pattern is checked when the policy is loaded -----------------------------------


POLICY = """\
id: test.text
title: A text policy
severity: high
enforcement: blocking
target: text
condition: "true"
message: "found {match}"
exceptions: {allowed: true}
standards: [test/one]
match:
  pattern: 'PATTERN'
fixtures:
  - {expect: pass, content: "x"}
  - {expect: fail, content: "y"}
"""
MATCH_LINE = 10  # the line of `match:` above


def policy_text(pattern: str) -> str:
    assert "'" not in pattern  # it goes into a single-quoted YAML scalar
    return POLICY.replace("PATTERN", pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "(unclosed",
        r"(a)\1",  # backreferences: Python's re accepts them, RE2 does not
        "(?=lookahead)",
        "(?<=lookbehind)x",
    ],
)
def test_invalid_re2_pattern_is_a_load_error_naming_file_and_match_line(pattern):
    with pytest.raises(PolicyLoadError) as info:
        load_policy_text(policy_text(pattern), ".compliance/policies/bad.yaml")
    err = info.value
    assert err.source == ".compliance/policies/bad.yaml"
    assert err.line == MATCH_LINE
    assert "RE2" in err.message
    assert str(err).startswith(f".compliance/policies/bad.yaml:{MATCH_LINE}: ")


def test_valid_pattern_loads():
    policy = load_policy_text(policy_text("TOKEN"), "ok.yaml")
    assert policy.match == {"pattern": "TOKEN"}


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ({}, "needs match.pattern"),
        ({"pattern": ""}, "needs match.pattern"),
        ({"pattern": "x", "kinds": ["Pod"]}, "kinds"),
    ],
)
def test_match_block_errors(match, words):
    with pytest.raises(MatchError, match=words):
        TEXT.compile_match(match)


# --- RE2: linear time on patterns that make backtracking engines hang ----------------------------


def test_catastrophic_backtracking_pattern_completes(record_property):
    # (a+)+$ against "aaa...ab" takes exponential time in a backtracking engine (Python's re
    # would not finish); RE2 answers in one linear pass.
    text = "a" * 200_000 + "b"
    started = time.perf_counter()
    no_match = matches("(a+)+$", text)
    full_match = matches("(a+)+$", "a" * 200_000)
    record_property("re2_seconds", round(time.perf_counter() - started, 4))
    assert no_match == []
    assert [(v["number"], len(v["match"])) for v in full_match] == [(1, 200_000)]


def test_catastrophic_pattern_through_the_engine(record_property):
    policy = load_policy_text(
        policy_text("(x+x+)+y").replace('message: "found {match}"', 'message: "hit"'),
        "slow.yaml",
    )
    files = [
        SourceFile("a.txt", "x" * 50_000 + "\n"),  # no y: a backtracking engine never returns
        SourceFile("b.txt", "line\n" + "x" * 30 + "y\n"),
    ]
    started = time.perf_counter()
    evaluation = Engine([policy]).evaluate(files)
    record_property("engine_seconds", round(time.perf_counter() - started, 4))
    assert evaluation.errors == []
    assert [(f.path, f.line, f.message) for f in evaluation.findings] == [("b.txt", 2, "hit")]
