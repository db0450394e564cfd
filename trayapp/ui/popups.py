"""Popups: the monitor's announcements, shown through the desktop's notification server where
there is one (with the app's icon, an urgency and actions), else as the tray icon's own balloon.

Qt's balloon on an XEmbed tray is a window of its own beside the icon that blocks the icon's
menu (issue #11): with a notification server there is no balloon at all; without one, no
balloon is shown while the menu is open (it waits until the menu closes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from trayapp.desktop.notify import DEFAULT_ACTION, NoNotifications, Note, Notifications, Urgency
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.ui.icons import APP, icon_path

log = logging.getLogger(__name__)

POPUP_MS = 10_000
_BALLOON_ICON = {
    Severity.INFO: QSystemTrayIcon.MessageIcon.Information,
    Severity.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Severity.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
}
#: down (and every critical announcement) is critical; recovered and the rest are normal
_URGENCY = {Severity.INFO: Urgency.NORMAL, Severity.WARNING: Urgency.NORMAL, Severity.CRITICAL: Urgency.CRITICAL}
#: the state icon shown in the notification, by the announcement's worst state
_IMAGE = {Severity.INFO: "up", Severity.WARNING: "degraded", Severity.CRITICAL: "down"}

OPEN, RESTART, SHOW_LOG = "open", "restart", "log"


def note_for(announcement: Announcement, managed: Callable[[str], bool]) -> Note:
    """The notification for an announcement. Its actions are about its first (worst) service:
    Open (a click on the popup: the window at that service), Restart (a managed service with a
    problem) and Show log. A later announcement about the same services replaces it."""
    first = announcement.services[0] if announcement.services else None
    actions: list[tuple[str, str]] = []
    if first is not None:
        actions.append((DEFAULT_ACTION, "Open"))
        if announcement.severity is not Severity.INFO and managed(first):
            actions.append((RESTART, "Restart"))
        actions.append((SHOW_LOG, "Show log"))
    # about trayapp itself ("watching 3 services"): its own mark, not a state's, which would
    # say "up" beside services that may all be down
    image = icon_path(_IMAGE[announcement.severity] if first is not None else APP)
    return Note(
        summary=announcement.title,
        body=announcement.message,
        urgency=_URGENCY[announcement.severity],
        actions=tuple(actions),
        key="\n".join(sorted(announcement.services)) or None,
        image=None if image is None else str(image),
        context=first,
    )


class Popups(QObject):
    """Shows announcements; reports what the user picked on one (GUI thread).

    ``server`` (set with :meth:`use`) is the platform piece: :class:`DesktopNotifications` on a
    desktop with a notification server, the do-nothing :class:`NoNotifications` otherwise.
    """

    #: the user picked an action on a popup: (service or "", "open" | "restart" | "log")
    action = Signal(str, str)
    #: an announcement was shown: (announcement, "server" | "balloon")
    shown = Signal(object, str)
    # from the notifications thread (queued to this object's thread)
    _unshown = Signal(object)
    _delivered = Signal(object, int)
    _acted = Signal(object, str)

    def __init__(
        self, icon: QSystemTrayIcon, menu: QMenu, managed: Callable[[str], bool], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._icon = icon
        self._menu = menu
        self._managed = managed
        self._pending: dict[Note, Announcement] = {}  # handed to the server, not yet shown
        self._held: list[Announcement] = []  # balloons waiting for the menu to close
        self._clicked_service: str | None = None
        self._unshown.connect(self._on_unshown)
        self._delivered.connect(self._on_delivered)
        self._acted.connect(self._on_acted)
        self.server: Notifications = NoNotifications(self._unshown.emit)
        icon.messageClicked.connect(self._on_balloon_clicked)
        menu.aboutToHide.connect(self._on_menu_hidden)

    # -- the platform piece's callbacks, for the composition root to pass on ------------------------

    def note_unshown(self, note: Note) -> None:
        """Any thread: the server could not show ``note``."""
        self._unshown.emit(note)

    def note_shown(self, note: Note, server_id: int) -> None:
        """Any thread: the server shows ``note`` as ``server_id``."""
        self._delivered.emit(note, server_id)

    def note_acted(self, note: Note, key: str) -> None:
        """Any thread: the user picked action ``key`` on ``note``."""
        self._acted.emit(note, key)

    def use(self, server: Notifications) -> None:
        self.server = server

    # -- showing --------------------------------------------------------------------------------

    def announce(self, announcement: Announcement) -> None:
        note = note_for(announcement, self._managed)
        self._pending[note] = announcement
        self.server.show(note)

    @Slot(object, int)
    def _on_delivered(self, note: Note, server_id: int) -> None:
        announcement = self._pending.pop(note, None)
        if announcement is not None:
            log.info("popup through the notification server (id %d): %s", server_id, announcement.title)
            self.shown.emit(announcement, "server")

    @Slot(object)
    def _on_unshown(self, note: Note) -> None:
        announcement = self._pending.pop(note, None)
        if announcement is None:
            return
        if self._menu.isVisible():
            self._held.append(announcement)  # the balloon would block the menu: after it closes
            return
        self._balloon(announcement)

    def _balloon(self, announcement: Announcement) -> None:
        self._clicked_service = announcement.services[0] if announcement.services else None
        self._icon.showMessage(announcement.title, announcement.message, _BALLOON_ICON[announcement.severity], POPUP_MS)
        self.shown.emit(announcement, "balloon")

    @Slot()
    def _on_menu_hidden(self) -> None:
        if self._held:
            QTimer.singleShot(0, self._show_held)  # once the menu is really gone

    @Slot()
    def _show_held(self) -> None:
        if self._menu.isVisible() or not self._held:
            return
        held, self._held = self._held, []
        if len(held) == 1:
            self._balloon(held[0])
            return
        worst = max(held, key=lambda a: list(Severity).index(a.severity))
        services = tuple(dict.fromkeys(s for a in held for s in a.services))
        message = "\n".join(f"{a.title}: {a.message}" if a.message else a.title for a in held)
        self._balloon(Announcement(f"{len(held)} updates", message, services, worst.severity, "mixed"))

    # -- what the user picked -----------------------------------------------------------------------

    @Slot(object, str)
    def _on_acted(self, note: Note, key: str) -> None:
        if note.context is None:
            return
        action = OPEN if key == DEFAULT_ACTION else key
        if action in (OPEN, RESTART, SHOW_LOG):
            log.info("popup action %s for %s", action, note.context)
            self.action.emit(note.context, action)

    @Slot()
    def _on_balloon_clicked(self) -> None:
        self.action.emit(self._clicked_service or "", OPEN)  # "": the window as it is
