"""The composition root: builds the engine and the UI, wires them, owns start-up and shutdown."""

from __future__ import annotations

import gc
import linecache
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QSocketNotifier, QThreadPool, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from trayapp.clock import Clock, SystemClock
from trayapp.config.edit import config_file_to_open
from trayapp.config.load import Config, ConfigError
from trayapp.desktop.notify import DesktopNotifications
from trayapp.desktop.preferences import Preferences
from trayapp.logs.format import marker_text
from trayapp.logs.store import LogStore
from trayapp.logs.tail import LogTailer
from trayapp.model import State, Transition
from trayapp.monitor.history import Timeline
from trayapp.monitor.notifier import Announcement, Notifier, Severity
from trayapp.monitor.scheduler import CheckEvent, Monitor, first_verdict_bound
from trayapp.paths import preferences_file, ui_settings_file
from trayapp.power.events import PowerEvent, PowerMonitor
from trayapp.power.sources import sleep_sources
from trayapp.power.wake import WakeCoordinator, WakeSummary
from trayapp.project.load import load_stack
from trayapp.stop_signals import StopSignals
from trayapp.supervise.supervisor import OUTCOME_KINDS, Supervisor, SupervisorEvent, announcement_for
from trayapp.ui.bridge import MonitorBridge, SupervisorBridge
from trayapp.ui.control import ControlRequests, SingleInstance
from trayapp.ui.icons import icon_path
from trayapp.ui.logfeed import LogFeed
from trayapp.ui.models import PortsModel, ServicesModel
from trayapp.ui.network import NetworkWatcher
from trayapp.ui.power import PowerSignals
from trayapp.ui.preferences import PreferencesKeeper
from trayapp.ui.settings import SettingsController
from trayapp.ui.tasks import Executors, Task
from trayapp.ui.tray import Tray
from trayapp.ui.welcome import first_run
from trayapp.ui.winpower import WindowsPowerSource

if TYPE_CHECKING:
    from trayapp.ui.logview import LogWindow
    from trayapp.ui.ports import PortsController
    from trayapp.ui.services import ServicesController
    from trayapp.ui.settings_window import SettingsWindow
    from trayapp.ui.window import MainWindow

log = logging.getLogger(__name__)

#: how long to wait for a system tray to appear (a tray starts after us at login)
TRAY_WAIT_S = 5.0
#: re-checks after a network change: now, then after these seconds (no grace: the machine did not sleep)
NETWORK_BURST = (0.5, 1.0, 2.0, 4.0)


class TrayApp(QObject):
    """The composition root: builds the engine and the UI, wires them, owns start-up and shutdown.

    Lives on the GUI thread. What the user does goes to a controller: :class:`ServicesController`
    (start, stop, restart, copy, open), :class:`PortsController` (the Ports tab, kills) and
    :class:`SettingsController` (Save to config, the config file changing on disk). This class
    keeps the engine's events (views, icon, popups, log markers), pausing, sleep and network
    changes, and the requests of ``trayapp start|stop|restart``.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        monitor: Monitor | None = None,
        power: PowerMonitor | None = None,
        notification_bus: str | None = None,
        preferences: Path | None = None,
    ) -> None:
        """``notification_bus``: the D-Bus whose notification server shows the popups ("session":
        the session bus; None: the tray icon's own balloons only). ``preferences``: the user's
        preferences file (default: :func:`trayapp.paths.preferences_file`), read at :meth:`start`."""
        super().__init__()
        self.clock = clock or SystemClock()
        #: one Timeline per service, shared with the controllers; the settings controller updates it in place
        self.views: dict[str, Timeline] = {s.name: Timeline(s) for s in config.services}
        self.monitor = monitor or Monitor(config.services, clock=self.clock)
        self.supervisor = Supervisor(config, monitor=self.monitor)
        # depends_on / proxy_to as the monitor has them now (a config reload changes them in place)
        self.notifier = Notifier(self.clock, needs=lambda: {s.name: s.needs for s in self.monitor.services})
        self.executors = Executors()
        # The user's popup preferences and do not disturb: applied at once, read and saved on the settings queue.
        self.preferences = PreferencesKeeper(preferences or preferences_file(), self.executors.settings, self)
        self.preferences.changed.connect(self._apply_preferences)
        self.preferences.ready.connect(self._schedule_announcements)
        self.preferences.read_problem.connect(self._on_preferences_problem)

        self.services_model = ServicesModel(list(self.views.values()), self)
        self.ports_model = PortsModel(self)
        # Logs: every service's log files and captured output, tailed on one thread into one store.
        self.log_store = LogStore()
        self.log_feed = LogFeed(self.log_store, self)
        self.log_tailer = LogTailer(self.log_feed.on_batch)
        self._marker_seq: dict[str, int] = {}  # the log position of each service's last change
        # The window is built when first wanted (see :attr:`window`), with the controllers of
        # what it shows; until then the tray keeps what the window would have been told.
        self._window: MainWindow | None = None
        self._services: ServicesController | None = None
        self._ports: PortsController | None = None
        self._process_events: dict[str, list[SupervisorEvent]] = {}  # per service, since its last outcome
        self._banner = ""
        self._quit_on_close = False
        self._log_window: LogWindow | None = None
        self._settings_window: SettingsWindow | None = None
        self.tray = Tray(
            lambda: list(self.views.values()), self, child_status=lambda name: self.supervisor.status(name)
        )

        self.settings = SettingsController(
            config,
            window=lambda: self._window,
            views=self.views,
            services_model=self.services_model,
            ports_model=self.ports_model,
            monitor=self.monitor,
            supervisor=self.supervisor,
            log_store=self.log_store,
            log_tailer=self.log_tailer,
            executors=self.executors,
            announce=self.post_announcement,
            parent=self,
        )
        self.settings.applied.connect(self._on_config_applied)
        # Popups through the desktop's notification server (issue #11), else the tray's balloon.
        self.notifications: DesktopNotifications | None = None
        if notification_bus is not None:
            popups, mark = self.tray.popups, icon_path("trayapp")
            self.notifications = DesktopNotifications(
                popups.note_acted,
                popups.note_unshown,
                on_shown=popups.note_shown,
                address=None if notification_bus == "session" else notification_bus,
                app_icon=None if mark is None else str(mark),
            )
            popups.use(self.notifications)

        self._bridge = MonitorBridge(self.monitor, self)
        self._bridge.checked.connect(self.on_checked)
        self._bridge.transitioned.connect(self.on_transitioned)
        self._supervisor_bridge = SupervisorBridge(self.supervisor, self)
        self._supervisor_bridge.event.connect(self.on_supervisor_event)

        # Sleep and wake (issue #5): paused across sleep, re-checked at once after, one summary popup.
        # ``power`` carries the native sources (run() adds them); without, the clock fallback alone.
        self.power = power or PowerMonitor()
        self.wake = WakeCoordinator(self.monitor, self.notifier, self.clock)
        self.power.subscribe(self.wake.on_power)
        self._power_signals = PowerSignals(self.wake, self)
        self._power_signals.suspending.connect(self._on_sleep_changed)
        self._power_signals.resumed.connect(self._on_sleep_changed)
        self._power_signals.summarised.connect(self._on_wake_summary)
        self.network = NetworkWatcher(self)
        self.network.changed.connect(self.on_network_changed)

        self._notify_timer = QTimer(self, singleShot=True)
        self._notify_timer.timeout.connect(self._deliver_announcements)
        self._ages_timer = QTimer(self, interval=5000)
        self._ages_timer.timeout.connect(self.services_model.refresh_ages)
        self._closed = False

        tray = self.tray
        tray.open_window.connect(self.open_window)
        tray.check_now.connect(self.check_now)
        tray.pause_toggled.connect(self.set_paused)
        tray.dnd_toggled.connect(self.set_dnd)
        tray.quit_requested.connect(self.quit)
        tray.copy_diagnosis.connect(lambda service: self.services.copy_diagnosis(service))
        tray.open_in_browser.connect(lambda service: self.services.open_in_browser(service))
        tray.show_port_owner.connect(self.show_port_owner)
        tray.service_action.connect(lambda service, action: self.services.action(service, action))
        tray.all_action.connect(lambda action: self.services.action_all(action))
        tray.open_config.connect(self.open_config_file)
        tray.open_settings.connect(self.open_settings)
        self.settings.project_added.connect(self._on_project_added)
        tray.show_log.connect(self.show_log)

    @property
    def window(self) -> MainWindow:
        """The main window, built when first wanted (opened, or an action from the tray menu that
        reports in it): about 10 MiB of widgets, fonts and styles the idle tray does not need
        (issue #12). It is built as the tray would show it now: banner, config status, process notes."""
        if self._window is None:
            self._window = self._build_window()
        return self._window

    def _build_window(self) -> MainWindow:
        # Imported here: the window's modules and their Qt classes are about 2 MiB more (issue #12).
        from trayapp.ui.ports import PortsController  # noqa: PLC0415
        from trayapp.ui.services import ServicesController  # noqa: PLC0415
        from trayapp.ui.window import MainWindow  # noqa: PLC0415

        window = MainWindow(self.services_model, self.ports_model, self.log_store)
        # The log views are imported and built when first opened (about 6 MiB): fed from then on.
        window.log_view_created.connect(lambda view: self.log_feed.entries_added.connect(view.on_entries))
        window.settings_requested.connect(self.open_settings)
        welcome = window.welcome
        welcome.show_for(self.config)
        welcome.project_chosen.connect(self.settings.add_project)
        welcome.add_service.connect(self.add_service)
        services_tab = window.services_tab
        services_tab.check_requested.connect(self.check_now)
        services_tab.log_requested.connect(self.show_log)
        window.show_banner(self._banner)
        window.quit_on_close = self._quit_on_close
        self._services = ServicesController(window, self.supervisor, self.views, self.executors, self)
        self._ports = PortsController(window, self.ports_model, self.monitor, self.executors, self)
        self.settings.attach(window)
        for events in self._process_events.values():
            for event in events:
                services_tab.note_event(event.service, event.kind, event.detail)
        self._process_events.clear()
        services_tab.refresh_actions()
        if self._closed:
            self._services.closed = self._ports.closed = True
        return window

    @property
    def services(self) -> ServicesController:
        """Start / stop / restart / copy / open (tray menu, window); built with the window."""
        self.window  # noqa: B018 - builds it
        assert self._services is not None
        return self._services

    @property
    def ports(self) -> PortsController:
        """The Ports tab and its kills; built with the window."""
        self.window  # noqa: B018 - builds it
        assert self._ports is not None
        return self._ports

    def show_banner(self, text: str, *, quit_on_close: bool) -> None:
        """The line at the top of the window (no system tray: the window is the app), kept for a
        window built later; ``quit_on_close``: closing the window quits trayapp."""
        self._banner, self._quit_on_close = text, quit_on_close
        if self._window is not None:
            self._window.show_banner(text)
            self._window.quit_on_close = quit_on_close

    @property
    def log_window(self) -> LogWindow:
        """The logs in a window of their own, built (and fed) when first wanted."""
        if self._log_window is None:
            from trayapp.ui.logview import LogWindow  # noqa: PLC0415 - lazily: about 6 MiB, seldom opened

            self._log_window = LogWindow(self.log_store)
            self._log_window.view.rebuild()
            self.log_feed.entries_added.connect(self._log_window.view.on_entries)
        return self._log_window

    @property
    def settings_window(self) -> SettingsWindow:
        """The Settings window (General and Services tabs), built when first wanted; one per app."""
        if self._settings_window is None:
            self._settings_window = self._build_settings_window()
        return self._settings_window

    def _build_settings_window(self) -> SettingsWindow:
        from trayapp.ui.general_page import GeneralPage  # noqa: PLC0415 - lazily, with the window
        from trayapp.ui.service_editor import ServicesPage  # noqa: PLC0415 - with the window: seldom opened
        from trayapp.ui.settings_window import SettingsWindow  # noqa: PLC0415 - lazily: seldom opened

        window = SettingsWindow({"general": GeneralPage(self.tray.autostart, self.preferences)})
        window.set_page("services", ServicesPage(self.settings))
        return window

    @Slot()
    def open_settings(self, tab: str = "general") -> None:
        """Settings… (tray menu, window): the Settings window at ``tab``, raised if it is open already."""
        self.settings_window.show_tab(tab)

    @Slot()
    def add_service(self) -> None:
        """Add service… (the welcome view): Settings at the Services tab, with the form of a new service."""
        from trayapp.ui.service_editor import ServicesPage  # noqa: PLC0415 - loaded with the Settings window

        self.open_settings("services")
        page = self.settings_window.page("services")
        assert isinstance(page, ServicesPage)
        page.start_add()

    @property
    def config(self) -> Config:
        """The config in use (as the window shows it)."""
        return self.settings.config

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        self.preferences.load()  # first on the settings queue; popups wait for it (at most 2 s)
        if self.notifications is not None:
            self.notifications.start()
        self.settings.start()
        self.log_tailer.start()
        # What start-up finds makes one popup, not one per service as each reaches its threshold.
        self.notifier.expect_first_verdicts({s.name: first_verdict_bound(s) for s in self.config.services})
        self.supervisor.report_stopped()  # managed services nobody started: grey "stopped", not red
        self.monitor.start()
        self.wake.start()
        self.power.start()
        self.network.start()
        self._ages_timer.start()
        self.tray.refresh()

    def shutdown(self) -> None:
        """Stop timers, the engine's threads and background work (each wait bounded)."""
        self._closed = True
        for controller in (self._services, self._ports):
            if controller is not None:
                controller.closed = True
        if self._ports is not None:
            self._ports.close()
        self.settings.close()
        for timer in (self._notify_timer, self._ages_timer):
            timer.stop()
        self.tray.hide()
        if self._settings_window is not None:
            self._settings_window.close()
        self.supervisor.close()  # managed children keep running; the next start adopts them
        self.log_tailer.stop(timeout=1.0)
        self.power.stop(timeout=1.0)
        if self.notifications is not None:
            self.notifications.stop(timeout=1.0)
        self.wake.stop(timeout=1.0)
        self.monitor.stop(timeout=1.0)
        # Bounded: a start still waiting for its service is left behind (the next trayapp adopts the child).
        self.executors.wait(2.0)
        QThreadPool.globalInstance().waitForDone(1000)  # control requests

    @Slot()
    def quit(self) -> None:
        QApplication.exit(0)  # not quit(): Qt 6 cancels that when a window refuses to close (ours hides)

    # -- engine events (GUI thread, via the bridge) ----------------------------------

    @Slot(object)
    def on_checked(self, event: CheckEvent) -> None:
        view = self.views.get(event.result.service)
        if view is None or self._closed:
            return
        view.add_check(event.result, event.service_state)
        self.services_model.service_changed(view.service.name)
        self.tray.refresh(view)

    @Slot(object)
    def on_transitioned(self, transition: Transition) -> None:
        view = self.views.get(transition.service)
        if view is None or self._closed:
            return
        view.add_transition(transition)
        self.services_model.service_changed(view.service.name)
        self.tray.refresh(view)
        self.notifier.feed(transition)
        self._schedule_announcements()
        bad = transition.new in (State.DOWN, State.DEGRADED)
        reason = f" ({transition.reason})" if bad else ""
        what = f"{transition.old} → {transition.new}{reason}"  # the marker says when: "── 12:03:04 backend: …"
        self._marker_seq[transition.service] = self.log_feed.add_marker(
            marker_text(what, transition.service, transition.t), transition.service, transition.t
        )

    def post_announcement(self, announcement: Announcement) -> None:
        """A popup decided elsewhere (a supervisor outcome, a config that was not applied); DND applies."""
        self.notifier.post(announcement)
        self._schedule_announcements()

    def _schedule_announcements(self) -> None:
        due = self.notifier.next_due()
        if due is None:
            return
        delay_ms = max(0, int((due - self.clock.monotonic()) * 1000))
        self._notify_timer.start(delay_ms)

    @Slot()
    def _deliver_announcements(self) -> None:
        if not self.preferences.is_ready:
            return  # the preferences say which popups to show; ``ready`` schedules them again
        for announcement in self.notifier.poll():
            log.info("popup: %s: %s", announcement.title, announcement.message)
            self.tray.announce(announcement)
        self._schedule_announcements()

    @Slot(object)
    def on_supervisor_event(self, event: SupervisorEvent) -> None:
        if self._closed:
            return  # an action left running at Quit ended after it
        announcement = announcement_for(event)
        if announcement is not None:
            self.post_announcement(announcement)
        if self._window is None:  # kept for the window if it is built: since each service's last outcome
            events = self._process_events.setdefault(event.service, [])
            if event.kind == "backoff":  # said after the outcome before it: at most two kept
                events[:] = [*events[-1:], event]
            elif event.kind in OUTCOME_KINDS:
                events[:] = [event]
            return
        self._window.services_tab.note_event(event.service, event.kind, event.detail)
        self._window.services_tab.refresh_actions()

    @Slot(object)
    def _on_config_applied(self, _applied: object) -> None:
        self.tray.refresh()
        # a service added or a project chosen: the user's own file now (a window built later knows)
        if self._window is not None and not first_run(self.config):
            self._window.welcome.hide()

    # -- user actions ------------------------------------------------------------------

    @Slot(object)
    def open_window(self, service: str | None = None) -> None:
        self.window.bring_up(service)

    @Slot(object)
    def check_now(self, service: str | None = None) -> None:
        self.monitor.check_now(None if service is None else [service])

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        if paused:
            self.monitor.pause()
        else:
            self.monitor.resume()
            self.monitor.check_now()
        self._show_paused(paused)

    def _show_paused(self, paused: bool) -> None:
        self.tray.set_paused(paused)
        self.services_model.set_paused(paused)

    @Slot(bool)
    def set_dnd(self, dnd: bool) -> None:
        """Do not disturb on or off (the tray menu, the Settings window): at once, and saved."""
        self.preferences.update(do_not_disturb=dnd)

    @Slot(object)
    def _apply_preferences(self, preferences: Preferences) -> None:
        """The user's preferences, in force at once: no restart."""
        log.info("preferences in force: %s", preferences)
        self.notifier.do_not_disturb = preferences.do_not_disturb
        self.notifier.set_popups(muted=preferences.muted_kinds(), wait_s=preferences.wait_s)
        self.tray.set_dnd(preferences.do_not_disturb)

    @Slot(str)
    def _on_preferences_problem(self, sentence: str) -> None:
        name = self.preferences.path.name
        self.post_announcement(Announcement(f"{name} has a mistake", sentence, (), Severity.WARNING, "config"))

    def confirm_watching(self) -> None:
        """One popup that says what is watched ("watching 3 services"), instead of silence (first run)."""
        names = [s.name for s in self.config.services]
        count = f"{len(names)} service{'s' if len(names) != 1 else ''}"
        lines = "\n".join(f"{s.name}: {s.display_target}" for s in self.config.services)
        self.post_announcement(Announcement(f"trayapp is watching {count}", lines, (), Severity.INFO, "watching"))

    @Slot(object)
    def _on_project_added(self, outcome: object) -> None:
        welcome = self.window.welcome
        if isinstance(outcome, str):
            welcome.status.setText(outcome)
            return
        welcome.show_for(self.config)
        welcome.status.setText(f"Watching {len(self.config.services)} services from {self.config.source}.")
        self.confirm_watching()

    @Slot()
    def open_config_file(self) -> None:
        """Open the config file in the desktop's editor; with none yet, write the one in use first
        (off the GUI thread, on the settings queue: it may write the file)."""
        config = self.config
        task = Task(lambda: config_file_to_open(config), self)
        task.done.connect(self._on_config_file)
        task.failed.connect(self._on_config_file_failed)
        task.start(self.executors.settings)

    @Slot(object)
    def _on_config_file(self, path: Path) -> None:
        if not self._closed:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    @Slot(str)
    def _on_config_file_failed(self, message: str) -> None:
        if not self._closed:
            self.window.show_config_status(f"The config file could not be written: {message}", problem=True)
            self.window.bring_up()

    @Slot(str)
    def show_port_owner(self, service: str) -> None:
        self.window.show_ports(self.views[service].service.port)
        self.ports.refresh()

    @Slot(str)
    def show_log(self, service: str) -> None:
        """The log tab at this service, at the place of its last state change if there is one."""
        self.window.show_log(service, self._marker_seq.get(service))

    # -- sleep, wake and network changes (GUI thread, via PowerSignals / NetworkWatcher) --------

    @Slot(object)
    def _on_sleep_changed(self, event: PowerEvent) -> None:
        """Paused while asleep; after a wake, paused only if the user had paused before."""
        self._show_paused(self.wake.asleep or self.wake.user_paused)

    @Slot(object)
    def _on_wake_summary(self, summary: WakeSummary) -> None:
        self._schedule_announcements()  # the summary waits in the notifier

    @Slot(str)
    def on_network_changed(self, what: str) -> None:
        if self.monitor.paused:
            return
        log.info("network changed (%s): re-checking", what)
        self.monitor.burst(NETWORK_BURST)


# -- running the app ---------------------------------------------------------------------


def has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


class SignalWaker(QObject):
    """Quits the Qt event loop on SIGTERM or SIGINT (GUI thread).

    The signal may be taken by any thread, and may come before the loop runs, when
    ``QApplication.quit()`` does nothing; so the quit is made here, in a slot of the running
    loop, when ``stop``'s wakeup socket says a signal came (issue #8).
    """

    def __init__(self, app: QApplication, stop: StopSignals) -> None:
        super().__init__(app)
        self._stop = stop
        self._notifier = QSocketNotifier(stop.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_wake)

    @Slot()
    def _on_wake(self) -> None:
        if self._stop.wait(timeout=0) is not None:
            log.info("stop signal received; shutting down")
            # exit(), not quit(): Qt 6's quit() first asks every window to close and gives up when one
            # refuses, as the main window does (it hides to the tray), so with the window open a
            # SIGTERM was logged and then ignored.
            QApplication.exit(0)

    def close(self) -> None:
        """Stop watching the socket (before ``stop`` closes it)."""
        self._notifier.setEnabled(False)


def freeze_startup_objects() -> None:
    """Keep the objects made at start-up (modules, classes, Qt wrappers: about 55,000) out of
    every later garbage collection; drop the module sources cached while importing them.

    A full collection walks every tracked object while holding the GIL, so it froze the window
    for 30-60 ms at a time during log bursts, whichever thread ran it; almost all of that was
    walking these, which live as long as the app. Start-up garbage is collected first, so
    nothing is leaked; objects made later are collected as usual.

    The sources are those PySide6's import hook read before
    :func:`trayapp.ui.sources.keep_no_module_sources` (8-12 MiB when nothing called it first);
    a traceback reads its lines again when it needs them.
    """
    linecache.clearcache()
    gc.collect()
    gc.freeze()


def run(config_path: str | None, argv: Sequence[str] | None = None) -> int:
    """``trayapp`` with no sub-command: the tray app. Returns the exit code."""
    if not has_display():
        from trayapp.desktop.entry import command_hint  # the command that works here, on PATH or not

        hint = command_hint()
        print(
            "trayapp: no graphical display here (DISPLAY / WAYLAND_DISPLAY are not set), so there is no tray "
            f"to show. Use `{hint} status` for a one-off check or `{hint} watch` to monitor in this terminal.",
            file=sys.stderr,
        )
        return 2
    app = QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("trayapp")
    app.setDesktopFileName("trayapp")
    from trayapp.ui.icons import app_icon

    app.setWindowIcon(app_icon())  # every window and dialog, and the taskbar (issue #11)
    app.setQuitOnLastWindowClosed(False)
    instance = SingleInstance(app)
    if not instance.acquire():
        print("trayapp is already running; asked it to show its window.", file=sys.stderr)
        return 0
    try:
        config = load_stack(config_path)
    except ConfigError as exc:
        print(f"trayapp: {exc}", file=sys.stderr)
        from trayapp.ui.config_problem import ConfigProblem

        problem = ConfigProblem(exc, lambda: load_stack(config_path))
        problem.show()  # in the app's own event loop, which its end leaves
        problem.raise_()
        problem.finished.connect(lambda _code: app.exit(0))
        app.exec()
        if problem.config is None:  # Quit
            instance.release()
            return 2
        config = problem.config
    with StopSignals() as stop:
        waker = SignalWaker(app, stop)
        power = PowerMonitor()
        for source in [*sleep_sources(gui=True), WindowsPowerSource(app)]:
            power.add_source(source)
        desktop_bus = "session" if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) else None
        tray_app = TrayApp(config, power=power, notification_bus=desktop_bus)
        prefs = QSettings(str(ui_settings_file()), QSettings.Format.IniFormat, app)
        tray_app.tray.set_symbolic(bool(prefs.value("icon/symbolic", False, type=bool)))
        tray_app.tray.symbolic_toggled.connect(lambda on: prefs.setValue("icon/symbolic", on))
        instance.server.show_requested.connect(tray_app.open_window)
        ControlRequests(instance.server, lambda: tray_app.supervisor, tray_app)  # `trayapp start|stop|restart`
        tray_app.start()
        _show_tray_when_available(tray_app)
        if first_run(config):  # nothing configured: say what is watched and why, and how to change it
            tray_app.open_window()
            tray_app.confirm_watching()
        freeze_startup_objects()
        code = app.exec()
        waker.close()
        tray_app.shutdown()
    instance.release()
    return code


def _show_tray_when_available(tray_app: TrayApp) -> None:
    """Show the icon once a system tray exists; after TRAY_WAIT_S without one, open the window instead."""
    waited = {"ms": 0}
    timer = QTimer(tray_app, interval=250)

    def poll() -> None:
        if QSystemTrayIcon.isSystemTrayAvailable():
            timer.stop()
            tray_app.tray.show()
            tray_app.show_banner("", quit_on_close=False)  # the window, if built, is the tray's again
            return
        waited["ms"] += timer.interval()
        if waited["ms"] >= TRAY_WAIT_S * 1000 and not tray_app.window.isVisible():
            log.warning("no system tray after %.0f s; showing the window", TRAY_WAIT_S)
            tray_app.show_banner(
                "No system tray was found, so trayapp runs in this window; closing it quits trayapp. "
                "If a tray appears later, the icon moves there.",
                quit_on_close=True,
            )
            tray_app.window.bring_up()

    timer.timeout.connect(poll)
    timer.start()
    poll()
