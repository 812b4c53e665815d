"""Exceptions: the opt-outs in ``.compliance/exceptions.yaml`` (``exemptions`` in code).

- ``parse``: text -> ``ExemptionsFile`` (or ``None`` when unusable) and line-precise problems;
- ``validate``: semantic rules that need the policies and ``now`` (DESIGN §5 items 8 and 16);
- ``match``: which entry covers which finding at ``now``; expired and unused entries;
- ``edit``: surgical add / change / remove on the file's text.

The package is pure: no I/O, no forge, no clock (every time-dependent call takes ``now``).
Approval (CODEOWNERS review, ledger) and expiry jobs build on it elsewhere.
"""

from typing import TYPE_CHECKING, Any

from bot.exemptions.match import Application, Matcher, apply
from bot.exemptions.model import ExemptionEntry, ExemptionsFile, Problem
from bot.exemptions.parse import parse
from bot.exemptions.validate import valid_entries, validate

if TYPE_CHECKING:
    from bot.exemptions.edit import EditError, add_entry, change_entry, remove_entries

# ``edit`` (difflib and the layout writer) is imported when one of its names is first asked
# for: a scan or a check reads exceptions and never edits them, and pays for it at every start.
_EDIT = frozenset({"EditError", "add_entry", "change_entry", "remove_entries"})


def __getattr__(name: str) -> Any:
    if name in _EDIT:
        from bot.exemptions import edit

        return getattr(edit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
