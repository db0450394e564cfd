"""trayapp: a tray companion for local web stacks."""

from __future__ import annotations

#: the version, and the distribution's: pyproject.toml reads it from here ([tool.setuptools.dynamic])
__version__ = "0.1.0"


def package_version() -> str:
    """trayapp's version: ``--version`` and the User-Agent of its HTTP checks.

    ``__version__``, not ``importlib.metadata``, which costs 30-50 ms to import and scan for
    every command and 2 MiB for good in the tray (27 modules: email, zipfile, csv, ...; issue #12).
    """
    return __version__
