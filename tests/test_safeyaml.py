"""The hostile-safe YAML loader: same values as PyYAML for honest input, refusals for the rest."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import safeyaml

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_like, st.sampled_from(["block", "flow"]))
def test_same_values_as_pyyaml(value, style):
    text = yaml.safe_dump(value, default_flow_style=(style == "flow"), allow_unicode=True)
    assert safeyaml.load(text, safeyaml.STRICT).value == yaml.safe_load(text)


def test_lines_of_fields():
    doc = safeyaml.load("a: 1\nb:\n  - x: 2\n    y: [1, 2]\n  - 3\nc: {d: 4}\n")
    assert doc.line_of("a") == 1
    assert doc.line_of("b[0].y") == 4
    assert doc.line_of("b[1]") == 5
    assert doc.line_of("c.d") == 6
    assert doc.line_of("b[0].missing") == 3  # the nearest known ancestor


def test_multi_document_lines():
    docs = safeyaml.load_all("kind: A\n---\n# comment\nkind: B\n", safeyaml.MANIFEST)
    assert [(d.value["kind"], d.line) for d in docs] == [("A", 1), ("B", 4)]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first defined on line 1)"),
        ("a: &x 1\nb: *x\n", 1, "anchors (&x) are not allowed"),
        ("a: 1\nb: !!python/object/apply:os.system [echo]\n", 2, "custom tag"),
        ("a: !custom 1\n", 1, "custom tag !custom"),
        ("a: [1, 2\n", 2, "invalid YAML"),
        ("a:\n\tb: 1\n", 2, "invalid YAML"),
    ],
)
def test_refusals_name_the_line(text, line, fragment):
    with pytest.raises(safeyaml.YAMLError) as err:
        safeyaml.load(text, safeyaml.STRICT)
    assert err.value.line == line
    assert fragment in str(err.value)


def test_duplicate_keys_can_be_recorded_instead_of_refused():
    text = "a: 1\nb:\n  c: 2\n  c: [3]\na: 4\n"
    doc = safeyaml.load(text, safeyaml.STRICT, record_duplicates=True)
    assert doc.value == {"a": 1, "b": {"c": 2}}, "the first value is kept"
    assert [(d.key, d.line, d.first_line) for d in doc.duplicates] == [("c", 4, 3), ("a", 5, 1)]
    inner, outer = doc.duplicates
    assert inner.mapping is doc.value["b"] and inner.value == [3]
    assert outer.mapping is doc.value and outer.value == 4
    assert doc.lines[id(inner.value)] == {0: 4}, "a repeated value keeps its lines"
    assert safeyaml.load("a: 1\n", record_duplicates=True).duplicates == []
    with pytest.raises(safeyaml.YAMLError, match="duplicate key 'c'"):
        safeyaml.load(text)  # the default is unchanged


def test_billion_laughs_refused_before_expanding():
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        text += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    with pytest.raises(safeyaml.YAMLError, match="expands to more than"):
        safeyaml.load(text, safeyaml.MANIFEST)


def test_deep_nesting_refused():
    # libyaml stops at its own depth limit (1,000); ours is lower and catches the rest
    with pytest.raises(safeyaml.YAMLError, match=r"nesting|maximum nesting depth"):
        safeyaml.load("a: " + "[" * 10_000 + "]" * 10_000, safeyaml.STRICT)
    with pytest.raises(safeyaml.YAMLError, match="nesting deeper than 64"):
        safeyaml.load("a: " + "[" * 100 + "]" * 100, safeyaml.STRICT)


def test_size_limit():
    with pytest.raises(safeyaml.YAMLError, match="bytes, more than"):
        safeyaml.load("a: " + "x" * 2_000_000, safeyaml.STRICT)


def test_merge_keys_in_manifests():
    doc = safeyaml.load("base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n", safeyaml.MANIFEST)
    assert doc.value["obj"] == {"x": 1, "y": 3}


def test_not_utf8():
    with pytest.raises(safeyaml.YAMLError, match="not UTF-8"):
        safeyaml.load(b"a: \xff\xfe\n")


def test_yaml_1_1_scalars_short_and_long_alike():
    # short plain scalars are converted once and remembered (``_plain``); long ones each time
    long = "1" * 70
    text = (
        f"a: 0x1F\nb: 0o17\nc: 017\nd: 1:30\ne: -1_000\nf: .inf\ng: yes\nh: ~\ni: 2026-12-03\n"
        f"j: {long}\nk: '0x1F'\nl: 0b101\n"
    )
    value = safeyaml.load(text).value
    assert value == {
        "a": 31, "b": "0o17", "c": 15, "d": 90, "e": -1000, "f": float("inf"), "g": True,
        "h": None, "i": "2026-12-03", "j": int(long), "k": "0x1F", "l": 5,
    }  # fmt: skip
    assert value == yaml.safe_load(text) | {"i": "2026-12-03"}  # (dates stay text)


def test_a_bad_integer_names_its_line_every_time():
    # ``0b_`` looks like an integer to YAML 1.1 but is not one; the second time it is the
    # remembered conversion that fails, and the line must still be its own
    for line in (2, 3):
        with pytest.raises(safeyaml.YAMLError) as caught:
            safeyaml.load("".join(f"a{i}: 1\n" for i in range(line - 1)) + "b: 0b_\n")
        assert caught.value.line == line and "bad integer" in caught.value.reason
