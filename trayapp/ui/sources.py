"""PySide6's import hook without the module sources it keeps (issue #12: 8-12 MiB of the tray).

On each first import of a module after PySide6 (also of one imported before it), PySide6 (6.5
and later, ``shibokensupport/feature.py``) asks ``inspect.getsource(module)`` whether the module
mentions "PySide6", for its opt-in ``from __feature__ import ...``. ``inspect`` reads the file
through :mod:`linecache`, which keeps every line for the life of the process: in the idle tray
about 300 files, 2.4 MB of text and 8.3 MiB of Python objects (tracemalloc), 5 MiB more when
pymongo is imported. :func:`keep_no_module_sources` has the hook ask the same question through
the module's loader, keeping nothing.
"""

from __future__ import annotations

import sys

import PySide6.QtCore  # noqa: F401 - loads the hook (PySide6.support.feature)


def uses_pyside(module: object) -> bool:
    """PySide6's own answer to "does this module use PySide6?" ("PySide6" in its source; False for a
    built-in module or one whose source cannot be read), with the source read and dropped."""
    name = getattr(module, "__name__", None)
    get_source = getattr(getattr(module, "__loader__", None), "get_source", None)
    if not isinstance(name, str) or get_source is None:
        return False
    try:
        source = get_source(name)
    except (ImportError, OSError, SyntaxError, UnicodeDecodeError):
        return False
    return isinstance(source, str) and "PySide6" in source


def keep_no_module_sources() -> bool:
    """Have PySide6's import hook keep no module's source, from now on; call it before the imports
    it should cover (the tray does, before importing its UI). Returns False, changing nothing,
    when this PySide6 has no such check."""
    feature = sys.modules.get("PySide6.support.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]
    return True
