"""First run (issue #11, item 3): with no config file, say what trayapp watches and why, and offer
the two ways to make it watch your own stack: Choose project folder… and Add service….

Shown at the top of the window while the config in use is not a file of the user's (the built-in
default, or what was discovered in the folder trayapp was started in). The text is plain text:
service names and targets come from files.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from trayapp.config.load import BUILTIN, Config
from trayapp.ui.widgets import plain_label


def first_run(config: Config) -> bool:
    """Nothing configured by the user: the built-in default, or a discovery not yet written down."""
    return config.path is None


def welcome_text(config: Config) -> str:
    """What trayapp watches and why, in a few lines (plain text)."""
    watched = "\n".join(f"  • {s.name}: {s.display_target}" for s in config.services)
    if config.source == BUILTIN:
        why = (
            "No config file was found, so trayapp watches its built-in default: the usual ports of an "
            "Express backend, a Vite dev server and MongoDB."
        )
    else:
        where = config.source.removeprefix("<discovered in ").removesuffix(">")
        why = f"No config file was found; trayapp read the project in {where} and watches what it found there."
    return f"{why}\n{watched}\nChoose your project's folder to watch its services, or add a service yourself."


class WelcomePanel(QFrame):
    """The first-run view: what is watched and why, Choose project folder…, Add service…, and Got it."""

    project_chosen = Signal(str)  # the folder the user picked
    add_service = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = plain_label("Welcome to trayapp")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.text = plain_label()
        self.text.setObjectName("welcome-text")
        self.choose_button = QPushButton("Choose project folder…")
        self.add_button = QPushButton("Add service…")
        self.add_button.setToolTip("Add a service of your own in Settings → Services")
        self.dismiss_button = QPushButton("Got it")
        self.status = plain_label()
        self.status.setObjectName("welcome-status")
        row = QHBoxLayout()
        for button in (self.choose_button, self.add_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._dialog: QFileDialog | None = None
        self.choose_button.clicked.connect(self._on_choose)
        self.add_button.clicked.connect(self.add_service.emit)
        self.dismiss_button.clicked.connect(self.hide)
        self.setVisible(False)

    def show_for(self, config: Config) -> None:
        """Show the welcome for ``config`` if it is a first run, else hide it."""
        self.text.setText(welcome_text(config))
        self.setVisible(first_run(config))

    @Slot()
    def _on_choose(self) -> None:
        dialog = QFileDialog(self, "Choose your project's folder")
        dialog.setObjectName("choose-project")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.project_chosen.emit)
        self._dialog = dialog
        dialog.open()  # not exec(): the app goes on while the user looks
