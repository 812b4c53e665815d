"""Reports: the outcome of a check and its renderings (text, JSON, SARIF, markdown).

``render(report, fmt)`` is the one entry point the CLI and the check-run code use; each format
lives in its own module (``text``, ``jsonout``, ``sarif``, ``markdown``).
"""

from __future__ import annotations

from bot import __version__
from bot.report.jsonout import render_json
from bot.report.markdown import render_markdown
from bot.report.model import ExceptionUse, Report, ReportedFinding
from bot.report.sarif import render_sarif
from bot.report.text import render_text

FORMATS = ("text", "json", "sarif", "markdown")


def render(
    report: Report,
    fmt: str,
    *,
    color: bool = False,
    tool_version: str = __version__,
    details_url: str | None = None,
) -> str:
    """``report`` as ``fmt`` (one of ``FORMATS``); ``color`` only affects ``text``."""
    if fmt == "text":
        return render_text(report, color=color)
    if fmt == "json":
        return render_json(report)
    if fmt == "sarif":
        return render_sarif(report, tool_version)
    if fmt == "markdown":
        return render_markdown(report, details_url=details_url)
    raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")


__all__ = [
    "FORMATS",
    "ExceptionUse",
    "Report",
    "ReportedFinding",
    "render",
    "render_json",
    "render_markdown",
    "render_sarif",
    "render_text",
]
