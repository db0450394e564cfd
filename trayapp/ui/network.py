"""Network changes from Qt's QNetworkInformation: reachability or transport medium changed.

The tray answers a change with an immediate re-check burst (no grace: the machine did not sleep).
``QNetworkInformation.loadDefaultBackend()`` picks the platform's backend (NetworkManager,
glib, connman, Windows' Network List Manager, macOS' Network framework, Android); where there
is none, :meth:`NetworkWatcher.start` returns False and the app works without it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger(__name__)


class NetworkWatcher(QObject):
    """Emits ``changed(description)`` on the GUI thread when reachability or the transport medium changes."""

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._infos: list[QObject] = []
        self._reachability: object = None
        self._medium: object = None

    def start(self, backend: str | None = None) -> bool:
        """Load the default (or the named) backend and follow it; False when there is none."""
        try:
            loaded = (
                QNetworkInformation.loadBackendByName(backend) if backend else QNetworkInformation.loadDefaultBackend()
            )
        except RuntimeError as exc:  # a backend plugin that fails to initialise
            log.info("network changes: backend failed to load (%s)", exc)
            loaded = False
        info = QNetworkInformation.instance() if loaded else None
        if info is None:
            log.info("network changes: no QNetworkInformation backend %s; not watching", backend or "here")
            return False
        log.info("network changes: watching through the %s backend", info.backendName())
        return self.watch(info)

    def watch(self, info: QObject) -> bool:
        """Follow ``info``'s ``reachabilityChanged`` / ``transportMediumChanged`` signals (any such QObject)."""
        if info in self._infos:
            return True
        self._infos.append(info)
        if isinstance(info, QNetworkInformation):
            self._reachability = info.reachability()
            self._medium = info.transportMedium()
        info.reachabilityChanged.connect(self._on_reachability)  # type: ignore[attr-defined]
        if hasattr(info, "transportMediumChanged"):
            info.transportMediumChanged.connect(self._on_medium)
        return True

    @property
    def watching(self) -> bool:
        return bool(self._infos)

    @Slot(object)
    def _on_reachability(self, reachability: object) -> None:
        if reachability == self._reachability:
            return
        old, self._reachability = self._reachability, reachability
        self.changed.emit(f"reachability {_name(old)} -> {_name(reachability)}")

    @Slot(object)
    def _on_medium(self, medium: object) -> None:
        if medium == self._medium:
            return
        old, self._medium = self._medium, medium
        self.changed.emit(f"transport {_name(old)} -> {_name(medium)}")


def _name(value: object) -> str:
    return str(getattr(value, "name", value))
