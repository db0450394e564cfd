"""Start at login for the GUI: the Qt face of :mod:`trayapp.desktop.autostart`.

:class:`AutostartSwitch` is what the tray menu's "Start at login" checkbox uses, and what the
Settings window can use: ``enabled`` (None until first read), ``set_enabled(on)``, and the
``changed(bool)`` / ``failed(str)`` signals. Reading and writing the entry (a file in
~/.config/autostart, a plist, a registry value) happens on a short-lived worker thread, so the
GUI thread never waits on the disk; the signals arrive on the GUI thread (queued).
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from trayapp.desktop.autostart import Autostart, AutostartError, autostart

log = logging.getLogger(__name__)


class AutostartSwitch(QObject):
    """One switch per app; several views (menu, settings) may show it."""

    #: the state after a read or a change
    changed = Signal(bool)
    #: a change failed: the sentence to show
    failed = Signal(str)

    def __init__(self, backend: Autostart | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backend = backend if backend is not None else autostart()
        self._enabled: bool | None = None
        self._lock = threading.Lock()  # one change at a time, in the order asked
        self.changed.connect(self._remember)
        self.refresh()

    @property
    def enabled(self) -> bool | None:
        """Whether it is on, as last read (None before the first read finished)."""
        return self._enabled

    @property
    def supported(self) -> bool:
        return self._backend.supported

    @property
    def where(self) -> str:
        return self._backend.where

    def refresh(self) -> None:
        """Read the state again (off the GUI thread); ``changed`` says it."""
        self._work(None)

    def set_enabled(self, on: bool) -> None:
        """Turn start at login on or off (off the GUI thread); ``changed`` or ``failed`` says how it went."""
        self._enabled = on  # the checkbox shows what was asked at once; a failure puts it back
        self._work(on)

    def _work(self, on: bool | None) -> None:
        threading.Thread(target=self._run, args=(on,), name="autostart", daemon=True).start()

    def _run(self, on: bool | None) -> None:
        with self._lock:
            try:
                if on is True:
                    self._backend.enable()
                elif on is False:
                    self._backend.disable()
            except AutostartError as exc:
                log.warning("start at login: %s", exc)
                self._say(str(exc))
            except Exception as exc:  # noqa: BLE001 - a worker thread must not die silently
                log.exception("start at login")
                self._say(f"start at login could not be changed: {exc}")
            state = self._backend.is_enabled()
            if on is not None:
                log.info("start at login: %s (%s)", "on" if state else "off", self._backend.where)
            try:
                self.changed.emit(state)
            except RuntimeError:  # the switch was deleted meanwhile (the app quit): nobody to tell
                pass

    def _say(self, sentence: str) -> None:
        try:
            self.failed.emit(sentence)
        except RuntimeError:  # deleted meanwhile
            pass

    def _remember(self, state: bool) -> None:
        self._enabled = state
