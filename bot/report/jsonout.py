"""JSON rendering of a ``Report``: the machine contract of DESIGN §4 (``--format json``).

The shape lives in ``Report.to_json()``; this module only serialises it, key order kept as
written there so the output reads in the documented order. Named ``jsonout`` so that it does
not shadow the standard library's ``json`` inside this package.

A narrowed ``View`` (``--min-severity``, ``--blocking-only``) leaves findings out of
``findings`` only; ``summary`` and ``conclusion`` still count them, and a ``hidden`` object
right after ``findings`` says how many were left out and by which filter.
"""

from __future__ import annotations

import json
from typing import Any

from bot.report.model import Report
from bot.report.text import ALL, View


def render_json(report: Report, view: View = ALL) -> str:
    data = report.to_json()
    if view.active:
        hidden = view.hidden(report.findings)
        shown: dict[str, Any] = {}
        for key, value in data.items():
            shown[key] = value
            if key == "findings":
                shown[key] = [rf.to_json() for rf in view.shown(report.findings)]
                shown["hidden"] = {
                    "findings": len(hidden),
                    "blocking": sum(1 for rf in hidden if rf.blocking),
                    "min_severity": view.min_severity,
                    "blocking_only": view.blocking_only,
                }
        data = shown
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
