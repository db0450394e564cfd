"""The tray icon, its tooltip, its menu, and the popups."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Signal, Slot
from PySide6.QtGui import QAction, QGuiApplication, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from trayapp.model import CheckResult, Kind, Reason, State
from trayapp.monitor.history import Timeline
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.monitor.rootcause import root_summary
from trayapp.supervise.supervisor import ChildState, ChildStatus, stopping_text
from trayapp.ui.autostart import AutostartSwitch
from trayapp.ui.icons import state_icon, symbolic_colour
from trayapp.ui.models import latency_text
from trayapp.ui.popups import OPEN, RESTART, SHOW_LOG, Popups


def menu_text(text: str) -> str:
    """Menu text shows '&' literally instead of making it a keyboard shortcut."""
    return text.replace("&", "&&")


_BAD = (State.DOWN, State.DEGRADED)


def short_reason(view: Timeline) -> str:
    """A few words after the state ("nothing listens on port 5000"); "" when the state says it all."""
    last = view.last
    if last is None:
        return "not checked yet"
    if view.state is State.UP:
        return ""  # "up" says it
    if view.state is State.STOPPED:
        return ""  # "stopped" says it; the menu has Start
    if last.blocked_by is not None and view.state in (State.DOWN, State.DEGRADED):
        return f"blocked by {last.blocked_by}"
    return "" if last.reason is Reason.OK else last.headline  # words, not a reason code


def tooltip_line(view: Timeline) -> str:
    reason = short_reason(view)
    return f"{view.service.name}: {view.state}" + (f" ({reason})" if reason else "")


class Tray(QObject):
    """Owns the QSystemTrayIcon. Reads the views it is given; asks for actions by signal.

    Per check the work is O(1) (issue #12): :meth:`refresh` with the service that changed
    updates that service's tooltip line and a count of services per state (the overall state
    is the worst state with a count), and hands the tooltip to the platform only when its
    text changed. Without a service (start, pause, a new config) it looks at all of them.
    """

    open_window = Signal(object)  # service name or None
    check_now = Signal(object)  # service name or None (all)
    pause_toggled = Signal(bool)
    dnd_toggled = Signal(bool)
    quit_requested = Signal()
    copy_diagnosis = Signal(str)
    open_in_browser = Signal(str)
    show_port_owner = Signal(str)
    announced = Signal(object)  # Announcement, after it was handed to the platform
    service_action = Signal(str, str)  # name, "start" | "stop" | "restart" | "force"
    all_action = Signal(str)  # "start" | "stop" | "restart": every managed service
    open_config = Signal()  # Open config file
    open_settings = Signal()  # Settings…: the Settings window
    show_log = Signal(str)
    symbolic_toggled = Signal(bool)  # the monochrome icon was turned on or off (Linux)

    def __init__(
        self,
        views: Callable[[], Sequence[Timeline]],
        parent: QObject | None = None,
        child_status: Callable[[str], ChildStatus | None] = lambda _name: None,
        autostart: AutostartSwitch | None = None,
    ) -> None:
        super().__init__(parent)
        self._views = views
        #: start at login, shared with the settings (``tray.autostart``)
        self.autostart = autostart if autostart is not None else AutostartSwitch(parent=self)
        self.autostart.failed.connect(self._on_autostart_failed)
        self._child_status = child_status
        self._paused = False
        self._dnd = False
        self._symbolic = False
        self._icon_key: tuple[State, bool, str] | None = None
        self._states: dict[str, State] = {}  # each service's state as last seen here
        self._counts: Counter[State] = Counter()  # how many services are in each state
        self._lines: dict[str, str] = {}  # each service's tooltip line, in config order
        self._bad: dict[str, CheckResult] = {}  # the last result of each service that is down or degraded
        self._tooltip = ""
        self._head = ""
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self._rebuild_menu)
        # The monochrome icon follows the theme: the platform's colour scheme (Qt 6.5+), or the
        # palette, whose change every widget (this menu too) is told of.
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_theme_changed)
        self.menu.installEventFilter(self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        # Popups: through the desktop's notification server if there is one (see popups.py).
        self.popups = Popups(self.icon, self.menu, lambda name: self._child_status(name) is not None, self)
        self.popups.action.connect(self._on_popup_action)
        self._rebuild_menu()
        self.refresh()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def overall(self) -> State:
        """The worst state of all services (unknown without any), from the counts: O(states)."""
        present = [state for state, count in self._counts.items() if count > 0]
        return max(present, key=lambda s: s.severity) if present else State.UNKNOWN

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        self.refresh()

    def set_dnd(self, dnd: bool) -> None:
        self._dnd = dnd

    @property
    def symbolic(self) -> bool:
        return self._symbolic

    def set_symbolic(self, on: bool) -> None:
        """The monochrome (symbolic) icon in the panel theme's text colour, or the coloured one."""
        self._symbolic = on
        self.refresh()

    @Slot()
    def _on_theme_changed(self) -> None:
        if self._symbolic:
            self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange):
            self._on_theme_changed()
        return False

    def refresh(self, view: Timeline | None = None) -> None:
        """Icon (only when the overall state changes) and tooltip (only when its text changes).

        ``view``: the one service that changed, O(1); None: look at every service again.
        """
        if view is None:
            views = self._views()
            self._states = {v.service.name: v.state for v in views}
            self._counts = Counter(self._states.values())
            self._lines = {v.service.name: tooltip_line(v) for v in views}
            self._bad = {v.service.name: v.last for v in views if v.last is not None and v.state in _BAD}
            lines_changed = True
        else:
            name = view.service.name
            old = self._states.get(name)
            if old is not view.state:
                if old is not None:
                    self._counts[old] -= 1
                self._counts[view.state] += 1
                self._states[name] = view.state
            line = tooltip_line(view)
            lines_changed = self._lines.get(name) != line
            self._lines[name] = line
            if view.last is not None and view.state in _BAD:
                self._bad[name] = view.last
            else:
                self._bad.pop(name, None)
        overall = self.overall
        tint = symbolic_colour() if self._symbolic else None
        key = (overall, self._paused, "" if tint is None else tint.name())
        if key != self._icon_key:
            self._icon_key = key
            self.icon.setIcon(state_icon(overall, self._paused, tint))
        head = "trayapp — paused" if self._paused else f"trayapp — {overall}"
        if lines_changed or head != self._head:  # joining the lines is O(services): only on news
            self._head = head
            # the root cause once ("db is down (refused); backend and frontend are affected")
            text = "\n".join(
                [head, *root_summary([self._bad[n] for n in self._lines if n in self._bad]), *self._lines.values()]
            )
            if text != self._tooltip:
                self._tooltip = text
                self.icon.setToolTip(text)

    def tooltip(self) -> str:
        """The tooltip's text as last handed to the platform."""
        return self._tooltip

    def icon_name(self) -> str:
        """The icon showing now ("up", "down", "paused", …); for the tests and the log."""
        state, paused, _tint = self._icon_key or (State.UNKNOWN, False, "")
        return "paused" if paused else str(state)

    def announce(self, announcement: Announcement) -> None:
        self.popups.announce(announcement)
        self.announced.emit(announcement)

    # -- menu ----------------------------------------------------------------------

    @Slot()
    def _rebuild_menu(self) -> None:
        menu = self.menu
        menu.clear()
        for view in self._views():
            menu.addMenu(self._service_menu(view, menu))
        if not self._views():
            menu.addAction("No services configured").setEnabled(False)
        if any(self._child_status(view.service.name) is not None for view in self._views()):
            menu.addSeparator()
            self._add(menu, "Start all", lambda: self.all_action.emit("start"))
            self._add(menu, "Stop all", lambda: self.all_action.emit("stop"))
            self._add(menu, "Restart all", lambda: self.all_action.emit("restart"))
        menu.addSeparator()
        self._add(menu, "Check now", self._on_check_all)
        pause = self._add(menu, "Pause monitoring", self._on_pause)
        pause.setCheckable(True)
        pause.setChecked(self._paused)
        dnd = self._add(menu, "Do not disturb", self._on_dnd)
        dnd.setCheckable(True)
        dnd.setChecked(self._dnd)
        login = self._add(menu, "Start at &login", self._on_autostart, mnemonic=True)
        login.setCheckable(True)
        login.setChecked(bool(self.autostart.enabled))
        login.setEnabled(self.autostart.supported)
        if sys.platform.startswith("linux"):
            mono = self._add(menu, "Monochrome icon", self._on_symbolic)
            mono.setCheckable(True)
            mono.setChecked(self._symbolic)
        menu.addSeparator()
        self._add(menu, "Open window", self._on_open)
        self._add(menu, "&Settings…", self.open_settings.emit, mnemonic=True)
        self._add(menu, "Open config file", self.open_config.emit)
        self._add(menu, "Quit", self.quit_requested.emit)

    def _service_menu(self, view: Timeline, parent: QMenu) -> QMenu:
        name = view.service.name
        parts = [name, "paused" if self._paused else str(view.state), short_reason(view), latency_text(view.last)]
        sub = QMenu(menu_text(" · ".join(p for p in parts if p)), parent)
        sub.setIcon(state_icon(view.state, self._paused))
        sub.setToolTipsVisible(False)
        self._add(sub, "Check now", lambda: self.check_now.emit(name))
        status = self._child_status(name)
        if status is not None:
            if status.state is ChildState.STOPPING:
                self._add(sub, f"Force stop ({stopping_text(status)})", lambda: self.service_action.emit(name, "force"))
            else:
                running = status.state in (ChildState.RUNNING, ChildState.STARTING)
                if not running:
                    self._add(sub, "Start", lambda: self.service_action.emit(name, "start"))
                self._add(sub, "Restart", lambda: self.service_action.emit(name, "restart"))
                if running:
                    self._add(sub, "Stop", lambda: self.service_action.emit(name, "stop"))
        if view.service.kind is Kind.HTTP:
            self._add(sub, "Open in browser", lambda: self.open_in_browser.emit(name))
        self._add(sub, "Copy diagnosis", lambda: self.copy_diagnosis.emit(name))
        if view.service.port is not None:
            self._add(sub, f"Show port owner ({view.service.port})", lambda: self.show_port_owner.emit(name))
        self._add(sub, "Show log", lambda: self.show_log.emit(name))
        self._add(sub, "Open in window", lambda: self.open_window.emit(name))
        return sub

    @staticmethod
    def _add(
        menu: QMenu, text: str, handler: Callable[[], object], icon: QIcon | None = None, *, mnemonic: bool = False
    ) -> QAction:
        action = menu.addAction(text if mnemonic else menu_text(text))
        action.triggered.connect(handler)
        return action

    # Menu actions are triggered on the GUI thread, so plain callables are fine here.

    def _on_check_all(self) -> None:
        self.check_now.emit(None)

    def _on_pause(self) -> None:
        self.pause_toggled.emit(not self._paused)

    def _on_dnd(self) -> None:
        self.dnd_toggled.emit(not self._dnd)

    def _on_symbolic(self) -> None:
        self.set_symbolic(not self._symbolic)
        self.symbolic_toggled.emit(self._symbolic)

    def _on_open(self) -> None:
        self.open_window.emit(None)

    def _on_autostart(self) -> None:
        self.autostart.set_enabled(not self.autostart.enabled)

    @Slot(str)
    def _on_autostart_failed(self, sentence: str) -> None:
        self.popups.announce(Announcement("Start at login", sentence, (), Severity.WARNING, "problem"))

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_window.emit(None)

    @Slot(str, str)
    def _on_popup_action(self, service: str, action: str) -> None:
        """Open (a click on the popup), Restart or Show log, picked on a popup about ``service``."""
        if action == OPEN:
            self.open_window.emit(service or None)
        elif action == SHOW_LOG and service:
            self.show_log.emit(service)
        elif action == RESTART and service:
            self.service_action.emit(service, "restart")
