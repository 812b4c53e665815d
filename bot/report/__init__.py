"""Reports: the outcome of a check and its renderings (text, JSON, SARIF, markdown).

``render(report, fmt)`` is the one entry point the check-run code uses; each format lives in its
own module (``text``, ``jsonout``, ``sarif``, ``markdown``). ``writer(fmt, out)`` is what the CLI
uses for text, JSON, JSON Lines and SARIF: the findings are written as they are judged, so a
scan's memory does not grow with its findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TextIO

from bot import __version__, lazy
from bot.report.jsonout import JsonLinesWriter, JsonWriter, render_json
from bot.report.model import ExceptionUse, Rendering, Report, ReportedFinding, Tally
from bot.report.text import ALL, TextWriter, View, render_text

if TYPE_CHECKING:
    from bot.report.markdown import render_markdown
    from bot.report.sarif import SarifWriter, render_sarif

# SARIF and markdown load when first asked for: a scan writes one format, most often JSON or text.
_WHERE = {"render_markdown": "markdown", "SarifWriter": "sarif", "render_sarif": "sarif"}
__getattr__ = lazy.names(__name__, _WHERE)


FORMATS = ("text", "json", "sarif", "markdown")
STREAMED_FORMATS = ("text", "json", "jsonl", "sarif")  # what ``writer`` writes


class Writer(Protocol):
    """Writes a report whose findings come one at a time (``check(sink=writer.add)``): ``add``
    each finding in report order, then ``finish`` with the report, which holds no findings."""

    def add(self, rf: ReportedFinding) -> None: ...

    def rendering(self) -> Rendering | None:
        """How the findings can be laid out where they are found (``check(rendering=)``), or
        None where the layout of one depends on findings of other paths."""

    def finish(self, report: Report) -> None: ...

    def close(self) -> None:
        """Let go of what the writer holds outside this process's memory (the folder the
        evaluating processes leave pieces in), whether or not the report was finished."""


def writer(
    fmt: str,
    out: TextIO,
    *,
    color: bool = False,
    view: View = ALL,
    tool_version: str = __version__,
) -> Writer:
    """A ``Writer`` of ``fmt`` (one of ``STREAMED_FORMATS``) to ``out``: for text, JSON and SARIF
    the same bytes as ``render`` of the whole report, without holding its findings."""
    if fmt == "text":
        return TextWriter(out, color=color, view=view)
    if fmt == "json":
        return JsonWriter(out, view)
    if fmt == "jsonl":
        return JsonLinesWriter(out, view)
    if fmt == "sarif":
        from bot.report.sarif import SarifWriter

        return SarifWriter(out, tool_version, view)
    raise ValueError(f"no streamed {fmt!r} output: expected one of {', '.join(STREAMED_FORMATS)}")


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
        from bot.report.sarif import render_sarif

        return render_sarif(report, tool_version)
    if fmt == "markdown":
        from bot.report.markdown import render_markdown

        return render_markdown(report, details_url=details_url)
    raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}")


__all__ = [
    "FORMATS",
    "STREAMED_FORMATS",
    "ExceptionUse",
    "Rendering",
    "Report",
    "ReportedFinding",
    "SarifWriter",
    "Tally",
    "Writer",
    "render",
    "render_json",
    "render_markdown",
    "render_sarif",
    "render_text",
    "writer",
]
