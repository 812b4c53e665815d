"""JSON rendering of a ``Report``: the machine contract of DESIGN §4 (``--format json``).

The shape lives in ``Report.to_json()``; this module only serialises it, key order kept as
written there so the output reads in the documented order. Named ``jsonout`` so that it does
not shadow the standard library's ``json`` inside this package.
"""

from __future__ import annotations

import json

from bot.report.model import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"
