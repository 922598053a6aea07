"""Workflow management systems cm submits to through BPS: local (parsl) and PanDA.

``campaigns.wms.base`` is the interface; ``get(name)`` returns the implementation
named by a step's ``wms`` field ("local" or "panda").
"""

import importlib

from campaigns.wms.base import Wms

_IMPLEMENTATIONS = {
    "local": "campaigns.wms.local:LocalWms",
    "panda": "campaigns.wms.panda:PandaWms",
}


def get(name: str) -> Wms:
    """The WMS called ``name``; imported on first use (BPS plugins are slow to import)."""
    try:
        module_name, class_name = _IMPLEMENTATIONS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown WMS {name!r} (known: {', '.join(_IMPLEMENTATIONS)})") from None
    return getattr(importlib.import_module(module_name), class_name)()
