"""The preferences in use, for the GUI: read at start and saved after each change, both on the
settings queue (:class:`trayapp.ui.tasks.Executors`), so the GUI thread never touches the file.

:class:`PreferencesKeeper` holds the :class:`~trayapp.desktop.preferences.Preferences` in use.
A change (:meth:`PreferencesKeeper.update`, from the General tab or the tray menu) is applied at
once (``changed`` is emitted on the GUI thread, before anything is written), then saved; the
saves run one at a time in the order asked, so the file ends with the last change. A mistake in
the file, or a save that failed, is said by ``problem`` as a sentence naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.desktop.preferences import DEFAULTS, Loaded, Preferences, load_preferences, save_preferences
from trayapp.ui.tasks import Task, WorkQueue

log = logging.getLogger(__name__)

#: the longest popups wait for the file to be read at start; after it they go with the defaults
LOAD_WAIT_MS = 2000


class PreferencesKeeper(QObject):
    """The preferences in use (GUI thread); the file is read and written on ``queue``."""

    #: the Preferences in use now: after the file was read, and at once after each change
    changed = Signal(object)
    #: after the file was read (or LOAD_WAIT_MS passed without it): popups may go out
    ready = Signal()
    #: a sentence: what is wrong with the file, or why a change was not saved ("" once saved fine)
    problem = Signal(str)
    #: a change was saved to the file
    saved = Signal()
    #: the file was read at start and has mistakes: the sentences, joined (once per read)
    read_problem = Signal(str)

    def __init__(self, path: Path, queue: WorkQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._queue = queue
        self.preferences: Preferences = DEFAULTS
        self.is_ready = False
        self.problems: tuple[str, ...] = ()  # the last read's or save's sentences
        self._changed_before_read = False
        self._load_timer = QTimer(self, singleShot=True, interval=LOAD_WAIT_MS)
        self._load_timer.timeout.connect(self._on_load_late)

    def load(self) -> None:
        """Read the file on the queue; ``changed`` and ``ready`` follow (``problem`` for a mistake)."""
        path = self.path
        task = Task(lambda: load_preferences(path), self)
        task.done.connect(self._on_loaded)
        task.failed.connect(self._on_load_failed)
        task.start(self._queue)
        self._load_timer.start()

    def update(self, **changes: Any) -> None:
        """Change fields (``recovered=False``, ``wait_s=30.0``, …): applied now, saved on the queue."""
        new = replace(self.preferences, **changes)
        if new == self.preferences:
            return
        self.preferences = new
        if not self.is_ready:
            self._changed_before_read = True  # the user's choice wins over what the file said
        self.changed.emit(new)
        path = self.path
        task = Task(lambda: save_preferences(path, new), self)
        task.done.connect(self._on_saved)
        task.failed.connect(self._on_save_failed)
        task.start(self._queue)

    @Slot(object)
    def _on_loaded(self, loaded: Loaded) -> None:
        for sentence in loaded.problems:
            log.warning("preferences: %s", sentence)
        if not self._changed_before_read:
            self.preferences = loaded.preferences
        self.problems = loaded.problems
        if loaded.problems:
            self.problem.emit(" ".join(loaded.problems))
            self.read_problem.emit(" ".join(loaded.problems))
        self.changed.emit(self.preferences)
        self._become_ready()

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:  # load_preferences does not raise; a last resort
        self.problems = (f"{self.path} could not be read ({message}); trayapp uses the default preferences.",)
        self.problem.emit(self.problems[0])
        self.read_problem.emit(self.problems[0])
        self._become_ready()

    @Slot()
    def _on_load_late(self) -> None:
        if not self.is_ready:
            log.warning("preferences: %s not read after %d ms; popups go with the defaults", self.path, LOAD_WAIT_MS)
            self._become_ready()

    def _become_ready(self) -> None:
        self._load_timer.stop()
        if not self.is_ready:
            self.is_ready = True
            self.ready.emit()

    @Slot(object)
    def _on_saved(self, _result: object) -> None:
        if self.problems:
            self.problems = ()
            self.problem.emit("")
        self.saved.emit()

    @Slot(str)
    def _on_save_failed(self, message: str) -> None:
        sentence = f"Not saved: {message.removeprefix('PreferencesError: ')}. The change applies until trayapp quits."
        log.warning("preferences: %s", sentence)
        self.problems = (sentence,)
        self.problem.emit(sentence)
