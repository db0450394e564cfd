"""The Settings window (issue #11, section 2): a window of tabs, "General" and "Services".

One window per app, built on first use (:attr:`trayapp.ui.app.TrayApp.settings_window`), opened
from "Settings…" in the tray menu and in the main window; opening it again raises the one that
is there. The pages are widgets of their own: the General page (:mod:`trayapp.ui.general_page`)
and the Services page, set with :meth:`SettingsWindow.set_page`. Until a page is set its tab
holds a plain placeholder that says so.

Closing the window hides it (Qt's default for a window without WA_DeleteOnClose); its pages keep
their state and are shown again as they were.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from trayapp.ui.icons import app_icon
from trayapp.ui.widgets import plain_label

GENERAL, SERVICES = "general", "services"
#: the tabs, in order: key -> label
TABS = {GENERAL: "General", SERVICES: "Services"}


def _placeholder(label: str) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    note = plain_label(f"The {label} settings are not available in this version yet.")
    note.setObjectName("placeholder")
    layout.addWidget(note)
    layout.addStretch(1)
    return page


class SettingsWindow(QWidget):
    """A top-level window with a :class:`QTabWidget`: one tab per key of :data:`TABS`.

    - ``set_page(key, widget)``: put ``widget`` in the tab ``key`` ("general" | "services"),
      in place of what was there (the window takes ownership).
    - ``page(key)``: the widget in that tab now (a placeholder until one was set).
    - ``show_tab(key)``: show the window (raised, un-minimized, activated) at that tab.

    GUI thread only; the pages do their own I/O off it.
    """

    def __init__(self, pages: dict[str, QWidget] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settings-window")
        self.setWindowTitle("trayapp Settings")
        self.setWindowIcon(app_icon())
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settings-tabs")
        self._pages: dict[str, QWidget] = {}
        for key, label in TABS.items():
            widget = _placeholder(label)
            self._pages[key] = widget
            self.tabs.addTab(widget, label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.resize(640, 480)
        for key, widget in (pages or {}).items():
            self.set_page(key, widget)

    def set_page(self, key: str, widget: QWidget) -> None:
        """Put ``widget`` in the tab ``key``, replacing the placeholder (or the page) that was there."""
        if key not in TABS:
            raise KeyError(f"no settings tab {key!r}; the tabs are {', '.join(TABS)}")
        old = self._pages[key]
        index = self.tabs.indexOf(old)
        current = self.tabs.currentIndex()
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, widget, TABS[key])
        self.tabs.setCurrentIndex(current)
        self.tabs.blockSignals(False)
        self._pages[key] = widget
        if old is not widget:
            old.deleteLater()

    def page(self, key: str) -> QWidget:
        return self._pages[key]

    def current_tab(self) -> str:
        """The key of the tab showing now."""
        widget = self.tabs.currentWidget()
        return next((key for key, page in self._pages.items() if page is widget), GENERAL)

    def show_tab(self, key: str = GENERAL) -> None:
        """Show the window at tab ``key``: raised and activated if it was open already."""
        self.tabs.setCurrentWidget(self._pages[key])
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()
