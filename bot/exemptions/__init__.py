"""Exceptions: the opt-outs in ``.compliance/exceptions.yaml`` (``exemptions`` in code).

- ``parse`` (in ``parsing``): text -> ``ExemptionsFile`` (or ``None`` when unusable) and
  line-precise problems;
- ``validate`` (in ``validation``): semantic rules that need the policies and ``now`` (DESIGN §5
  items 8 and 16);
- ``match``: which entry covers which finding at ``now``; expired and unused entries;
- ``edit``: surgical add / change / remove on the file's text.

The package is pure: no I/O, no forge, no clock (every time-dependent call takes ``now``).
Approval (CODEOWNERS review, ledger) and expiry jobs build on it elsewhere.
"""

from typing import TYPE_CHECKING

from bot import lazy

if TYPE_CHECKING:
    from bot.exemptions.edit import EditError, add_entry, change_entry, remove_entries
    from bot.exemptions.match import Application, Matcher, apply
    from bot.exemptions.model import ExemptionEntry, ExemptionsFile, Problem
    from bot.exemptions.parsing import parse
    from bot.exemptions.validation import valid_entries, validate

# Each name is imported from its module when first asked for (``bot.lazy``): a scan of a
# repository without an exceptions file never parses, validates or edits one, and paid at every
# start for the modules that do (their records, the layout reader).
_WHERE = {
    "Application": "match",
    "Matcher": "match",
    "apply": "match",
    "ExemptionEntry": "model",
    "ExemptionsFile": "model",
    "Problem": "model",
    "parse": "parsing",
    "valid_entries": "validation",
    "validate": "validation",
    "EditError": "edit",
    "add_entry": "edit",
    "change_entry": "edit",
    "remove_entries": "edit",
}
__getattr__ = lazy.names(__name__, _WHERE)


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
