"""``bot.report.render``: one entry point, dispatching on the format name."""

from __future__ import annotations

import json

import pytest
from report_samples import full_report

from bot import __version__
from bot.report import FORMATS, render, render_markdown, render_text


def test_every_format_renders_to_text_ending_in_a_newline():
    for fmt in FORMATS:
        out = render(full_report(), fmt)
        assert isinstance(out, str) and out.endswith("\n"), fmt


def test_dispatch():
    report = full_report()
    assert render(report, "text") == render_text(report, color=False)
    assert render(report, "text", color=True) == render_text(report, color=True)
    assert json.loads(render(report, "json"))["conclusion"] == "failure"
    sarif = json.loads(render(report, "sarif"))
    assert sarif["runs"][0]["tool"]["driver"]["semanticVersion"] == __version__
    sarif = json.loads(render(report, "sarif", tool_version="9.9.9"))
    assert sarif["runs"][0]["tool"]["driver"]["semanticVersion"] == "9.9.9"
    assert render(report, "markdown") == render_markdown(report)


def test_unknown_format_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="text, json, sarif, markdown"):
        render(full_report(), "html")
