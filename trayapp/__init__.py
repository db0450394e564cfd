"""trayapp: a tray companion for local web stacks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trayapp")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+checkout"
