"""Reports: the outcome of a check and its renderings (text, JSON, SARIF, markdown)."""

from bot.report.model import ExceptionUse, Report, ReportedFinding

__all__ = ["ExceptionUse", "Report", "ReportedFinding"]
