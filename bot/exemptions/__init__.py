"""Exceptions: the opt-outs in ``.compliance/exceptions.yaml`` (``exemptions`` in code).

- ``parse``: text -> ``ExemptionsFile`` (or ``None`` when unusable) and line-precise problems;
- ``validate``: semantic rules that need the policies and ``now`` (DESIGN §5 items 8 and 16);
- ``match``: which entry covers which finding at ``now``; expired and unused entries;
- ``edit``: surgical add / change / remove on the file's text.

The package is pure: no I/O, no forge, no clock (every time-dependent call takes ``now``).
Approval (CODEOWNERS review, ledger) and expiry jobs build on it elsewhere.
"""

from bot.exemptions.edit import EditError, add_entry, change_entry, remove_entries
from bot.exemptions.match import Application, Matcher, apply
from bot.exemptions.model import ExemptionEntry, ExemptionsFile, Problem
from bot.exemptions.parse import parse
from bot.exemptions.validate import valid_entries, validate

__all__ = [
    "Application",
    "EditError",
    "ExemptionEntry",
    "ExemptionsFile",
    "Matcher",
    "Problem",
    "add_entry",
    "apply",
    "change_entry",
    "parse",
    "remove_entries",
    "valid_entries",
    "validate",
]
