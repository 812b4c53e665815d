"""Names of a package imported from their modules when first asked for (PEP 562).

A package whose ``__init__`` imports every module makes each command pay for all of them at
start; with ``__getattr__ = lazy.names(__name__, {"parse": "parsing", ...})`` a name is looked
up in its module the first time someone asks the package for it, and kept there after. A name's
module must not share its name (``parsing``, not ``parse``): importing the module would put it
in the place of the name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package`` for ``where``: name -> its module in the package."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # (asked for once)
        return value

    return __getattr__
