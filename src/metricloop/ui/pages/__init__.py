"""One module per page (or group of pages); each registers itself with ``@page``.

``discover()`` imports them all. Stages add their pages as new modules here (alerts inbox,
incident board, incident page, review editor, case library, monitor editor); until they do,
``ui/app.py`` serves a placeholder at those paths.
"""

from __future__ import annotations

import importlib
import pkgutil


def discover() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{mod.name}")
