"""trayapp: a tray companion for local web stacks."""

from __future__ import annotations

from functools import cache


@cache
def package_version() -> str:
    """The installed distribution's version, looked up on first use.

    ``importlib.metadata`` costs 30-50 ms to import and scan, paid by every command if done
    at import time (issue #12); ``trayapp.__version__`` still works through ``__getattr__``.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trayapp")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0+checkout"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return package_version()
    raise AttributeError(f"module 'trayapp' has no attribute {name!r}")
