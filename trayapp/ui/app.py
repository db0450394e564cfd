"""The composition root: builds the engine and the UI, wires them, owns start-up and shutdown."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QSocketNotifier, Qt, QThreadPool, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from trayapp.checks.ports import listeners
from trayapp.clock import Clock, SystemClock
from trayapp.config.edit import save_service_settings
from trayapp.config.load import Config, ConfigError
from trayapp.logs.store import LogStore
from trayapp.logs.tail import LogTailer
from trayapp.model import Kind, Listener, State, Transition
from trayapp.monitor.history import Timeline
from trayapp.monitor.notifier import Notifier
from trayapp.monitor.scheduler import CheckEvent, Monitor
from trayapp.power.events import PowerEvent, PowerMonitor
from trayapp.power.sources import sleep_sources
from trayapp.power.wake import WakeCoordinator, WakeSummary
from trayapp.project.load import Rediscovery, load_stack
from trayapp.stop_signals import StopSignals
from trayapp.supervise.kill import KillPlan, KillReport, execute_kill, plan_kill
from trayapp.supervise.supervisor import ActionResult, Supervisor, SupervisorEvent, announcement_for
from trayapp.ui.bridge import MonitorBridge, SupervisorBridge
from trayapp.ui.control import ControlRequests, SingleInstance
from trayapp.ui.logview import RECENT_LINES, LogFeed, LogWindow
from trayapp.ui.models import PortsModel, ServicesModel
from trayapp.ui.network import NetworkWatcher
from trayapp.ui.power import PowerSignals
from trayapp.ui.tasks import Task
from trayapp.ui.tray import Tray
from trayapp.ui.window import MainWindow, kill_confirmation, service_report
from trayapp.ui.winpower import WindowsPowerSource

log = logging.getLogger(__name__)

#: how long to wait for a system tray to appear (a tray starts after us at login)
TRAY_WAIT_S = 5.0
PORTS_REFRESH_MS = 3000
#: how often a discovered project's files are looked at for changes (a few dozen stat calls, off the GUI thread)
REDISCOVER_MS = 2000
#: re-checks after a network change: now, then after these seconds (no grace: the machine did not sleep)
NETWORK_BURST = (0.5, 1.0, 2.0, 4.0)


class TrayApp(QObject):
    """Everything the running app is made of, wired together. Lives on the GUI thread."""

    ports_refreshed = Signal()

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        monitor: Monitor | None = None,
        power: PowerMonitor | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock or SystemClock()
        self.views: dict[str, Timeline] = {s.name: Timeline(s) for s in config.services}
        self.monitor = monitor or Monitor(config.services, clock=self.clock)
        self.supervisor = Supervisor(config, monitor=self.monitor)
        self.notifier = Notifier(self.clock)

        self.services_model = ServicesModel(list(self.views.values()), self)
        self.ports_model = PortsModel(self)
        self.ports_model.set_watched(self._watched_ports())
        # Logs: every service's log files and captured output, tailed on one thread into one store.
        self.log_store = LogStore()
        self.log_feed = LogFeed(self.log_store, self)
        self.log_tailer = LogTailer(self.log_feed.on_batch)
        self._marker_seq: dict[str, int] = {}  # the log position of each service's last change
        self.window = MainWindow(self.services_model, self.ports_model, self.log_store)
        self.log_window = LogWindow(self.log_store)
        for view in (self.window.log_view, self.log_window.view):
            self.log_feed.entries_added.connect(view.on_entries)
        self.tray = Tray(
            lambda: list(self.views.values()), self, child_status=lambda name: self.supervisor.status(name)
        )
        self.window.services_tab.supervisor = self.supervisor

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
        self._ports_timer = QTimer(self, interval=PORTS_REFRESH_MS)
        self._ports_timer.timeout.connect(self.refresh_ports)
        self._ports_busy = False
        self._closed = False
        # A discovered project (issue #10): re-discovered when its files change.
        self._rediscovery = Rediscovery(config)
        self._rediscover_timer = QTimer(self, interval=REDISCOVER_MS)
        self._rediscover_timer.timeout.connect(self._rediscover)
        self._rediscover_busy = False

        tray = self.tray
        tray.open_window.connect(self.open_window)
        tray.check_now.connect(self.check_now)
        tray.pause_toggled.connect(self.set_paused)
        tray.dnd_toggled.connect(self.set_dnd)
        tray.quit_requested.connect(self.quit)
        tray.copy_diagnosis.connect(self.copy_diagnosis)
        tray.open_in_browser.connect(self.open_in_browser)
        tray.show_port_owner.connect(self.show_port_owner)
        tray.service_action.connect(self.service_action)
        services_tab = self.window.services_tab
        services_tab.check_requested.connect(self.check_now)
        services_tab.settings_requested.connect(self.save_settings)
        services_tab.action_requested.connect(self.service_action)
        services_tab.log_requested.connect(self.show_log)
        tray.show_log.connect(self.show_log)
        ports_tab = self.window.ports_tab
        ports_tab.refresh_requested.connect(self.refresh_ports)
        ports_tab.kill_requested.connect(self.request_kill)
        self.window.tabs.currentChanged.connect(self._on_tab_changed)

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        self._follow_logs()
        self.log_tailer.start()
        self.monitor.start()
        self.wake.start()
        self.power.start()
        self.network.start()
        self._ages_timer.start()
        if self._rediscovery.watching:
            self._rediscover_timer.start()
            self._rediscover()
        self.tray.refresh()

    def shutdown(self) -> None:
        """Stop timers, the engine's threads and background tasks (each wait bounded)."""
        self._closed = True
        for timer in (self._notify_timer, self._ages_timer, self._ports_timer, self._rediscover_timer):
            timer.stop()
        self.tray.hide()
        self.supervisor.close()  # managed children keep running; the next start adopts them
        self.log_tailer.stop(timeout=1.0)
        self.power.stop(timeout=1.0)
        self.wake.stop(timeout=1.0)
        self.monitor.stop(timeout=1.0)
        QThreadPool.globalInstance().waitForDone(2000)

    @Slot()
    def quit(self) -> None:
        QApplication.quit()

    # -- engine events (GUI thread, via the bridge) ----------------------------------

    @Slot(object)
    def on_checked(self, event: CheckEvent) -> None:
        view = self.views.get(event.result.service)
        if view is None:
            return
        view.add_check(event.result, event.service_state)
        self.services_model.service_changed(view.service.name)
        self.tray.refresh(view)

    @Slot(object)
    def on_transitioned(self, transition: Transition) -> None:
        view = self.views.get(transition.service)
        if view is None:
            return
        view.add_transition(transition)
        self.services_model.service_changed(view.service.name)
        self.tray.refresh(view)
        self.notifier.feed(transition)
        self._schedule_announcements()
        bad = transition.new in (State.DOWN, State.DEGRADED)
        reason = f" ({transition.reason})" if bad else ""
        self._marker_seq[transition.service] = self.log_feed.add_marker(
            f"{transition.service}: {transition.old} → {transition.new}{reason}", transition.service, transition.t
        )

    def _schedule_announcements(self) -> None:
        due = self.notifier.next_due()
        if due is None:
            return
        delay_ms = max(0, int((due - self.clock.monotonic()) * 1000))
        self._notify_timer.start(delay_ms)

    @Slot()
    def _deliver_announcements(self) -> None:
        for announcement in self.notifier.poll():
            log.info("popup: %s: %s", announcement.title, announcement.message)
            self.tray.announce(announcement)
        self._schedule_announcements()

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

    @Slot(bool)
    def set_dnd(self, dnd: bool) -> None:
        self.notifier.do_not_disturb = dnd
        self.tray.set_dnd(dnd)

    @Slot(str)
    def copy_diagnosis(self, service: str) -> None:
        QGuiApplication.clipboard().setText(service_report(self.views[service]))

    @Slot(str)
    def open_in_browser(self, service: str) -> None:
        config = self.views[service].service
        if config.kind is Kind.HTTP:
            QDesktopServices.openUrl(QUrl(config.target))

    @Slot(str)
    def show_port_owner(self, service: str) -> None:
        self.window.show_ports(self.views[service].service.port)
        self.refresh_ports()

    # -- logs -------------------------------------------------------------------------------

    def _log_sources(self) -> list[tuple[str, str]]:
        """(service, path) of every log to show: configured files, then captured output."""
        sources = [(s.name, path) for s in self.config.services for path in s.logs]
        for service in self.config.services:
            captured = self.supervisor.log_path(service.name)
            if captured is not None:
                sources.append((service.name, str(captured)))
        return sources

    def _follow_logs(self) -> None:
        for name, path in self._log_sources():
            self.log_store.add_source(name, path)
            # Its last lines first, so the view is not empty, read on the tailer's thread from the
            # same position as what follows them: nothing written meanwhile is lost or shown twice.
            self.log_tailer.add(path, name, backlog=RECENT_LINES)

    @Slot(str)
    def show_log(self, service: str) -> None:
        """The log tab at this service, at the place of its last state change if there is one."""
        self.window.show_log(service, self._marker_seq.get(service))

    # -- managed services ------------------------------------------------------------------

    @Slot(object)
    def on_supervisor_event(self, event: SupervisorEvent) -> None:
        announcement = announcement_for(event)
        if announcement is not None:
            self.notifier.post(announcement)
            self._schedule_announcements()
        self.window.services_tab.refresh_actions()

    @Slot(str, str)
    def service_action(self, service: str, action: str) -> None:
        """start / stop / restart / force, from the menu or the window."""
        if not self.supervisor.managed(service):
            return
        if action == "force":
            self.supervisor.force(service)
            return
        if action == "stop":
            self._run_action(service, action, lambda: self.supervisor.stop(service))
            return
        # Starting: if a process we did not start holds the port, ask before killing it.
        port = self.views[service].service.port
        task = Task(
            lambda: (service, action, plan_kill(port) if port is not None and listeners([port]) else None), self
        )
        task.done.connect(self._on_start_planned)
        task.start()

    @Slot(object)
    def _on_start_planned(self, planned: tuple[str, str, KillPlan | None]) -> None:
        if self._closed:
            return
        service, action, plan = planned
        foreign = [] if plan is None else [t for t in plan.targets if not self.supervisor.is_ours(t.pid)]
        run = self.supervisor.restart if action == "restart" else self.supervisor.start
        if plan is None or (not foreign and plan.problem is None):
            self._run_action(service, action, lambda: run(service, confirm=lambda _p: True))
            return
        if plan.problem is not None:
            self.window.services_tab.show_action_result(service, f"{service} was not started: {plan.problem}")
            return
        box = kill_confirmation(self.window, plan, then=f"then start {service}")
        box.setObjectName("kill-confirmation")
        confirmed_pids = {t.pid for t in plan.targets}

        def answered(_result: int, box: QMessageBox = box) -> None:
            ok = box.clickedButton() is not None and box.clickedButton().objectName() == "confirm-kill"
            box.deleteLater()
            if not ok:
                self.window.services_tab.show_action_result(service, "Nothing was killed, nothing started.")
                return
            # Only the processes the user saw may be killed; a new holder means asking again.
            self._run_action(
                service, action, lambda: run(service, confirm=lambda p: {t.pid for t in p.targets} <= confirmed_pids)
            )

        box.finished.connect(answered)
        self.window.bring_up(service)
        box.open()

    def _run_action(self, service: str, action: str, call: Callable[[], ActionResult]) -> None:
        verb = {"start": "Starting", "stop": "Stopping", "restart": "Restarting"}[action]
        self.window.services_tab.show_action_result(service, f"{verb} {service}…")
        task = Task(lambda: (service, call()), self)
        task.done.connect(self._on_action_done)
        task.failed.connect(self._on_action_failed)
        task.start()
        self.window.services_tab.refresh_actions()

    @Slot(object)
    def _on_action_done(self, done: tuple[str, ActionResult]) -> None:
        if self._closed:
            return
        service, result = done
        self.window.services_tab.show_action_result(service, result.detail)
        self.window.services_tab.refresh_actions()

    @Slot(str)
    def _on_action_failed(self, message: str) -> None:
        if not self._closed:
            self.window.services_tab.show_action_result(None, message)

    # -- ports tab ---------------------------------------------------------------------

    def _watched_ports(self) -> dict[int, tuple[str, ...]]:
        return self.config.watched_ports()

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.window.ports_tab:
            self.refresh_ports()
            self._ports_timer.start()
        else:
            self._ports_timer.stop()

    @Slot()
    def refresh_ports(self) -> None:
        if self._ports_busy:
            return  # one scan at a time; the next timer tick brings fresh data anyway
        self._ports_busy = True
        task = Task(lambda: listeners(None), self)
        task.done.connect(self._on_ports_listed)
        task.failed.connect(self._on_ports_failed)
        task.start()

    @Slot(object)
    def _on_ports_listed(self, found: list[Listener]) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self._ports_busy = False
        self.ports_model.set_listeners(found)
        self.window.ports_tab.status.setText(f"{len(found)} listening sockets")
        self.ports_refreshed.emit()

    @Slot(str)
    def _on_ports_failed(self, message: str) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self._ports_busy = False
        self.window.ports_tab.status.setText(f"Could not list listening sockets: {message}")

    @Slot(object)
    def request_kill(self, listener: Listener) -> None:
        """Kill button: plan off the GUI thread, confirm, then kill off the GUI thread."""
        self.window.ports_tab.status.setText(f"Looking at what holds port {listener.port}…")
        task = Task(lambda: plan_kill(listener.port), self)
        task.done.connect(self._on_kill_planned)
        task.failed.connect(self._on_kill_failed)
        task.start()

    @Slot(object)
    def _on_kill_planned(self, plan: KillPlan) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        if plan.problem is not None:  # nothing to confirm: the report says why (built off the GUI thread)
            task = Task(lambda: execute_kill(plan), self)
            task.done.connect(self._on_kill_done)
            task.failed.connect(self._on_kill_failed)
            task.start()
            return
        box = kill_confirmation(self.window, plan)
        box.setObjectName("kill-confirmation")
        box.finished.connect(lambda _result, box=box, plan=plan: self._on_kill_confirmed(box, plan))
        self.window.ports_tab.status.setText(f"Waiting for confirmation to stop what holds port {plan.port}…")
        box.open()

    def _on_kill_confirmed(self, box: QMessageBox, plan: KillPlan) -> None:
        confirmed = box.clickedButton() is not None and box.clickedButton().objectName() == "confirm-kill"
        box.deleteLater()
        if not confirmed:
            self.window.ports_tab.status.setText("Nothing was killed.")
            return
        self.window.ports_tab.status.setText(f"Stopping what holds port {plan.port}…")
        task = Task(lambda: execute_kill(plan), self)
        task.done.connect(self._on_kill_done)
        task.failed.connect(self._on_kill_failed)
        task.start()

    @Slot(object)
    def _on_kill_done(self, report: KillReport) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self.window.ports_tab.status.setText(report.detail)
        self.refresh_ports()
        self.monitor.check_now()

    @Slot(str)
    def _on_kill_failed(self, message: str) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self.window.ports_tab.status.setText(f"The kill failed: {message}")

    # -- settings ----------------------------------------------------------------------

    @Slot(str, float, float)
    def save_settings(self, service: str, interval: float, timeout: float) -> None:
        note = self.window.services_tab.settings_note
        note.setText("Saving…")
        config = self.config
        task = Task(lambda: save_service_settings(config, service, interval=interval, timeout=timeout), self)
        task.done.connect(self._on_settings_saved)
        task.failed.connect(self._on_settings_failed)
        task.start()

    @Slot(object)
    def _on_settings_saved(self, config: Config) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self.apply_config(config)
        self.window.services_tab.settings_note.setText(f"Saved to {config.source}; monitoring restarted.")

    @Slot(str)
    def _on_settings_failed(self, message: str) -> None:
        if self._closed:
            return  # a background result that arrived after Quit
        self.window.services_tab.settings_note.setText(f"Not saved: {message}")

    @Slot()
    def _rediscover(self) -> None:
        if self._rediscover_busy or self._closed:
            return
        self._rediscover_busy = True
        task = Task(self._rediscovery.check, self)
        task.done.connect(self._on_rediscovered)
        task.failed.connect(self._on_rediscover_failed)
        task.start()

    @Slot(object)
    def _on_rediscovered(self, config: Config | None) -> None:
        self._rediscover_busy = False
        if config is not None and not self._closed:
            log.info("the project's files changed; watching %s", ", ".join(s.name for s in config.services))
            self.apply_config(config)

    @Slot(str)
    def _on_rediscover_failed(self, message: str) -> None:
        self._rediscover_busy = False
        if not self._closed:
            self.window.show_banner(f"The project's files changed, but trayapp cannot use them: {message}")

    def apply_config(self, config: Config) -> None:
        """Restart monitoring with a new config, keeping each service's history."""
        current = self.window.services_tab.current_name()
        self.monitor.stop(timeout=0.5)
        old = self.views
        self.config = config
        self.views = {}
        for service in config.services:
            view = old.get(service.name) or Timeline(service)
            view.service = service
            self.views[service.name] = view
        self.services_model.set_views(list(self.views.values()))
        self.tray.refresh()
        self.ports_model.set_watched(self._watched_ports())
        self.monitor = Monitor(config.services, clock=self.clock)
        self._bridge = MonitorBridge(self.monitor, self)
        self._bridge.checked.connect(self.on_checked)
        self._bridge.transitioned.connect(self.on_transitioned)
        self.wake.attach(self.monitor)
        self.supervisor.close()
        self.supervisor = Supervisor(config, monitor=self.monitor)  # adopts the children still running
        self._follow_logs()
        self._supervisor_bridge = SupervisorBridge(self.supervisor, self)
        self._supervisor_bridge.event.connect(self.on_supervisor_event)
        self.window.services_tab.supervisor = self.supervisor
        if self.tray.paused:
            self.monitor.pause()
        self.monitor.start()
        if current is not None:
            self.window.services_tab.select(current)


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
            QApplication.quit()

    def close(self) -> None:
        """Stop watching the socket (before ``stop`` closes it)."""
        self._notifier.setEnabled(False)


def freeze_startup_objects() -> None:
    """Keep the objects made at start-up (modules, classes, Qt wrappers: about 55,000) out of
    every later garbage collection.

    A full collection walks every tracked object while holding the GIL, so it froze the window
    for 30-60 ms at a time during log bursts, whichever thread ran it; almost all of that was
    walking these, which live as long as the app. Start-up garbage is collected first, so
    nothing is leaked; objects made later are collected as usual.
    """
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
        box = QMessageBox(QMessageBox.Icon.Critical, "trayapp: bad config", "")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(str(exc))
        box.exec()
        instance.release()
        return 2
    with StopSignals() as stop:
        waker = SignalWaker(app, stop)
        power = PowerMonitor()
        for source in [*sleep_sources(gui=True), WindowsPowerSource(app)]:
            power.add_source(source)
        tray_app = TrayApp(config, power=power)
        instance.server.show_requested.connect(tray_app.open_window)
        ControlRequests(instance.server, lambda: tray_app.supervisor, tray_app)  # `trayapp start|stop|restart`
        tray_app.start()
        _show_tray_when_available(tray_app)
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
            tray_app.window.show_banner("")
            tray_app.window.quit_on_close = False
            return
        waited["ms"] += timer.interval()
        if waited["ms"] >= TRAY_WAIT_S * 1000 and not tray_app.window.isVisible():
            log.warning("no system tray after %.0f s; showing the window", TRAY_WAIT_S)
            tray_app.window.show_banner(
                "No system tray was found, so trayapp runs in this window; closing it quits trayapp. "
                "If a tray appears later, the icon moves there."
            )
            tray_app.window.quit_on_close = True
            tray_app.window.bring_up()

    timer.timeout.connect(poll)
    timer.start()
    poll()
