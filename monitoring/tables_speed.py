"""django-tables2, made cheaper per cell.

Every cell of a table goes through ``django_tables2.utils.call_with_appropriate``, which asks
``inspect.signature`` of the column's ``render`` (or the table's ``render_<column>``) what
arguments it takes: a third of a 100-row page's time (profiled on the workflow page, large
bench size). A function's arguments never change, so the answer is kept per function.
Installed once, at start-up (``MonitoringConfig.ready``).
"""

from collections.abc import Callable
from types import FunctionType

from django_tables2 import utils

Signature = tuple[tuple[str, ...], str | None]
MAX_KNOWN = 4096


def remembering(signature: Callable[[Callable], Signature]) -> Callable[[Callable], Signature]:
    """``signature``, answered once per function (a bound method is its function, bound:
    ``self`` is left out either way by inspect, so bound and unbound are kept apart)."""
    known: dict[tuple[object, bool], Signature] = {}

    def remembered(fn: Callable) -> Signature:
        function = getattr(fn, "__func__", fn)
        if not isinstance(function, FunctionType):  # a partial, a callable object: asked
            return signature(fn)
        key = (function, hasattr(fn, "__self__"))
        if key not in known:
            if len(known) >= MAX_KNOWN:  # functions made per request would never repeat
                return signature(fn)
            known[key] = signature(fn)
        return known[key]

    return remembered


def install() -> None:
    if not getattr(utils.signature, "cm_remembered", False):
        utils.signature = remembering(utils.signature)
        utils.signature.cm_remembered = True  # type: ignore[attr-defined]
