"""``json.dumps(value, indent=2)`` at the C encoder's speed, for the findings a report streams.

With ``indent`` set, the standard library gives up its C encoder and builds the text in Python,
one generator step per token: on a finding-heavy repository that was a third of a scan's time
(``benchmarks/engine.py --profile``). A finding is a small tree of maps, strings and numbers, so
here the layout is written directly and each string goes through the C escaper that ``json``
itself uses. The output is the same text, byte for byte (``tests/test_indented_json.py`` holds
this to ``json.dumps`` on generated values); anything that is not plain JSON data (a tuple, a
non-string key, a subclass) is handed to ``json.dumps`` whole, so that nothing differs there.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _quote  # type: ignore[attr-defined]
from typing import Any

_FLOAT_REPR = float.__repr__


class _Unusual(Exception):
    """A value this module does not lay out itself."""


def dumps(value: Any, level: int = 0) -> str:
    """``json.dumps(value, indent=2)``, written as if the value sat ``level`` steps deep."""
    try:
        return _encode(value, "\n" + "  " * level)
    except _Unusual:
        text = json.dumps(value, indent=2)
        return text.replace("\n", "\n" + "  " * level) if level else text


def _encode(value: Any, newline: str) -> str:
    kind = type(value)
    if kind is str:
        return _quote(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise _Unusual  # NaN and the infinities: json's spelling
        return _FLOAT_REPR(value)
    inner = newline + "  "
    if kind is dict:
        if not value:
            return "{}"
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            # the usual values inline: a call per value was most of a finding's cost
            if type(item) is str:
                parts.append(_quote(key) + ": " + _quote(item))
            elif item is None:
                parts.append(_quote(key) + ": null")
            else:
                parts.append(_quote(key) + ": " + _encode(item, inner))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if kind is list:
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_encode(v, inner) for v in value) + newline + "]"
    raise _Unusual
