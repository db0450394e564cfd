"""A config that cannot be loaded at start: its sentence and ways on, never a dead end (issue #11).

The window says what is wrong (plain text) and offers **Open config file** (the file in the
desktop's editor), **Retry** (load it again, off the GUI thread: after fixing it),
**Use the built-in default** (watch the default services for now; the file is left as it is)
and **Quit**. ``config`` holds the config to run with once the dialog was accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from trayapp.config.load import BUILTIN, DEFAULT_TOML, Config, ConfigError, parse_config
from trayapp.ui.tasks import Task
from trayapp.ui.widgets import plain_label

log = logging.getLogger(__name__)


def _attempt(load: Callable[[], Config]) -> Config | str:
    """``load()``, or its ConfigError's sentence (worker thread)."""
    try:
        return load()
    except ConfigError as exc:
        return str(exc)


class ConfigProblem(QDialog):
    """The broken config's sentence, with Open config file, Retry, Use the built-in default and Quit."""

    def __init__(self, error: ConfigError, load: Callable[[], Config], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("trayapp: the config cannot be used")
        self.setObjectName("config-problem")
        self._load = load
        self.config: Config | None = None
        self.file = Path(error.source) if not error.source.startswith("<") else None
        heading = QLabel("trayapp cannot use its config, so it watches nothing yet.")
        self.sentence = plain_label(str(error))
        self.sentence.setObjectName("config-problem-sentence")
        self.hint = plain_label("Fix the file and press Retry, or go on with the built-in default for now.")
        self.open_button = QPushButton("Open config file")
        self.retry_button = QPushButton("Retry")
        self.default_button = QPushButton("Use the built-in default")
        self.quit_button = QPushButton("Quit")
        self.open_button.setEnabled(self.file is not None and self.file.is_file())
        self.retry_button.setDefault(True)
        row = QHBoxLayout()
        for button in (self.open_button, self.retry_button, self.default_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.quit_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.sentence)
        layout.addWidget(self.hint)
        layout.addLayout(row)
        self.resize(620, 200)
        self.open_button.clicked.connect(self._on_open)
        self.retry_button.clicked.connect(self._on_retry)
        self.default_button.clicked.connect(self._on_default)
        self.quit_button.clicked.connect(self.reject)

    @Slot()
    def _on_open(self) -> None:
        if self.file is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.file.resolve())))

    @Slot()
    def _on_retry(self) -> None:
        self.retry_button.setEnabled(False)
        self.hint.setText("Loading the config again…")
        load = self._load
        task = Task(lambda: _attempt(load), self)
        task.done.connect(self._on_loaded)
        task.failed.connect(self._on_failed)
        task.start()

    @Slot(object)
    def _on_loaded(self, outcome: Config | str) -> None:
        self.retry_button.setEnabled(True)
        if isinstance(outcome, Config):
            self.config = outcome
            self.accept()
            return
        self.sentence.setText(outcome)
        self.hint.setText("Still not usable. Fix the file and press Retry, or use the built-in default.")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.retry_button.setEnabled(True)
        self.sentence.setText(f"trayapp could not load it: {message}")

    @Slot()
    def _on_default(self) -> None:
        self.config = parse_config(DEFAULT_TOML, BUILTIN)
        self.accept()
