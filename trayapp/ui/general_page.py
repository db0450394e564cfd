"""The Settings window's General tab: start at login, which popups, how eager, do not disturb.

Every control acts at once, no Apply button: start at login goes through the same
:class:`~trayapp.ui.autostart.AutostartSwitch` as the tray menu's checkbox, and the rest through
the :class:`~trayapp.ui.preferences.PreferencesKeeper` the engine listens to. The controls follow
both, so a change made in the tray menu shows here at once and the other way round. Widgets do
no I/O.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from trayapp.desktop.preferences import MAX_WAIT_S, Preferences
from trayapp.model import State
from trayapp.text import shorten_home
from trayapp.ui.autostart import AutostartSwitch
from trayapp.ui.icons import state_colour
from trayapp.ui.preferences import PreferencesKeeper
from trayapp.ui.widgets import plain_label

#: the popup checkboxes: (Preferences field, label)
POPUP_KINDS = (
    ("problem", "a service goes down or stops working properly"),
    ("recovered", "a service is back"),
    ("flapping", "a service keeps going up and down, and when it has settled"),
)


def _tell(label: QLabel, text: str, *, problem: bool) -> None:
    """A line under a control: red for a problem, grey for a note (readable on light and dark)."""
    palette = label.palette()
    state = State.DOWN if problem else State.UNKNOWN
    palette.setColor(QPalette.ColorRole.WindowText, state_colour(state, palette.color(QPalette.ColorRole.Window)))
    label.setPalette(palette)
    label.setText(text)
    label.setVisible(bool(text))


class GeneralPage(QWidget):
    """The General tab. ``boxes``: the popup checkboxes by field ("problem", "recovered", "flapping")."""

    def __init__(
        self, autostart: AutostartSwitch, preferences: PreferencesKeeper, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("general-settings")
        self._autostart = autostart
        self._keeper = preferences

        start = QGroupBox("Start")
        start_layout = QVBoxLayout(start)
        self.login = QCheckBox("Start trayapp when you &log in")
        self.login.setObjectName("start-at-login")
        self.login.setEnabled(autostart.supported)
        self.login.setChecked(bool(autostart.enabled))
        self.login.setToolTip(f"Writes or removes {autostart.where}" if autostart.supported else autostart.where)
        self.login_note = plain_label()
        self.login_note.setObjectName("start-at-login-note")
        _tell(self.login_note, "" if autostart.supported else autostart.where, problem=False)
        start_layout.addWidget(self.login)
        start_layout.addWidget(self.login_note)

        popups = QGroupBox("Popups")
        form = QFormLayout(popups)
        form.addRow(plain_label("Show a popup when"))
        self.boxes: dict[str, QCheckBox] = {}
        for field, text in POPUP_KINDS:
            box = QCheckBox(text)
            box.setObjectName(f"popup-{field}")
            box.toggled.connect(lambda on, field=field: self._keeper.update(**{field: on}))
            self.boxes[field] = box
            form.addRow(box)
        self.wait = QDoubleSpinBox(minimum=0, maximum=MAX_WAIT_S, decimals=0, suffix=" s", singleStep=5)
        self.wait.setObjectName("popup-wait")
        self.wait.setSpecialValueText("no wait")
        self.wait.setKeyboardTracking(False)  # typed "30" is one change, not "3" then "30"
        self.wait.valueChanged.connect(lambda value: self._keeper.update(wait_s=float(value)))
        wait_row = QHBoxLayout()
        wait_row.addWidget(self.wait)
        wait_row.addStretch(1)
        wait_label = QLabel("&Wait before a popup")
        wait_label.setBuddy(self.wait)
        form.addRow(wait_label, wait_row)
        wait_note = plain_label(
            "A problem that clears up within this time makes no popup at all, nor does its recovery. "
            "This comes on top of each service's own patience: it is called down only after failing "
            "down_after checks in a row (2 unless its config says otherwise)."
        )
        _tell(wait_note, wait_note.text(), problem=False)
        form.addRow(wait_note)
        self.dnd = QCheckBox("&Do not disturb: no popups at all (the icon still shows every change)")
        self.dnd.setObjectName("do-not-disturb")
        self.dnd.toggled.connect(lambda on: self._keeper.update(do_not_disturb=on))
        form.addRow(self.dnd)

        self.status = plain_label()
        self.status.setObjectName("preferences-status")
        self.where = plain_label()
        where = shorten_home(str(preferences.path))
        _tell(self.where, f"These preferences are yours, for every project; they are kept in {where}.", problem=False)

        layout = QVBoxLayout(self)
        layout.addWidget(start)
        layout.addWidget(popups)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.where)

        self.login.toggled.connect(self._on_login_toggled)
        autostart.changed.connect(self._on_login_changed)
        autostart.failed.connect(self._on_login_failed)
        preferences.changed.connect(self.show_preferences)
        preferences.problem.connect(self._on_problem)
        self.show_preferences(preferences.preferences)
        _tell(self.status, " ".join(preferences.problems), problem=True)

    @Slot(object)
    def show_preferences(self, preferences: Preferences) -> None:
        """Set the controls to ``preferences`` without taking that as a change of the user's."""
        for field, box in self.boxes.items():
            with QSignalBlocker(box):
                box.setChecked(getattr(preferences, field))
        with QSignalBlocker(self.wait):
            self.wait.setValue(preferences.wait_s)
        with QSignalBlocker(self.dnd):
            self.dnd.setChecked(preferences.do_not_disturb)
        popups = not preferences.do_not_disturb
        for box in self.boxes.values():
            box.setEnabled(popups)  # do not disturb overrides them; they keep their state for after
        self.wait.setEnabled(popups)

    @Slot(bool)
    def _on_login_toggled(self, on: bool) -> None:
        _tell(self.login_note, "", problem=False)
        self._autostart.set_enabled(on)

    @Slot(bool)
    def _on_login_changed(self, on: bool) -> None:
        with QSignalBlocker(self.login):
            self.login.setChecked(on)

    @Slot(str)
    def _on_login_failed(self, sentence: str) -> None:
        _tell(self.login_note, f"Start at login was not changed: {sentence}", problem=True)

    @Slot(str)
    def _on_problem(self, sentence: str) -> None:
        _tell(self.status, sentence, problem=True)
