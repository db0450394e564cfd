"""The settings controller: the Save button, and trayapp.toml (or an env_file) changing on disk.

Everything that reads, writes or changes the engine runs on the settings queue, one job at a
time in the order asked: saving the file, reading it after an edit, and applying a config to
the engine in place (the monitor, the supervisor and the log followers each keep what did not
change). The GUI thread only shows the outcome, so a Save with hung services costs the window
nothing, and a reload never waits for a check in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from trayapp.config.edit import add_project, save_service_settings
from trayapp.config.load import Config, ConfigError, load_config
from trayapp.config.watch import ConfigChange, ConfigWatcher
from trayapp.logs.store import LogStore
from trayapp.logs.tail import LogTailer
from trayapp.monitor.history import Timeline
from trayapp.monitor.notifier import Announcement, Severity
from trayapp.monitor.scheduler import Monitor, Reconfigured
from trayapp.project.load import Rediscovery, expand_projects, load_stack
from trayapp.supervise.supervisor import Supervisor
from trayapp.ui.logfeed import RECENT_LINES
from trayapp.ui.models import PortsModel, ServicesModel
from trayapp.ui.tasks import Executors, Task

if TYPE_CHECKING:  # the Services page imports it when Settings opens
    from trayapp.config.service_tables import Check, ServiceEdit
    from trayapp.ui.window import MainWindow, ServicesTab  # built when first wanted (TrayApp.window)

log = logging.getLogger(__name__)

#: how often a discovered project's files are looked at for changes (a few dozen stat calls, off the GUI thread)
REDISCOVER_MS = 2000


@dataclass(frozen=True)
class Applied:
    """A config the engine runs on now, and what taking it changed."""

    config: Config
    how: str  # "saved" | "reloaded" (the file changed) | "rediscovered" (a discovered project's files changed)
    changes: Reconfigured
    followed: tuple[tuple[str, str], ...] = ()  # (service, path) of log files newly followed
    restart_to_apply: tuple[str, ...] = ()  # running managed services whose start settings or env_file changed

    @property
    def changed_anything(self) -> bool:
        return bool(self.changes or self.followed or self.restart_to_apply)


@dataclass(frozen=True)
class ServicesEdited:
    """The outcome of a change to one [[service]] table (the Services page): applied, or why not."""

    what: str  # one sentence: "Added web to …", or what went wrong
    name: str | None = None  # the service added, edited or duplicated
    applied: Applied | None = None
    error: ConfigError | None = None  # the validator's mistake (its field names the form's field)


#: a change to the config file's [[service]] tables: (the config in use, the check to run) -> the edit made
ServicesChange = Callable[[Config, "Check"], "ServiceEdit"]


def load_file(path: Path) -> Config:
    """A config file as the tray loads it: with the services of its ``[[project]]`` folders."""
    return expand_projects(load_config(path))


def log_sources(config: Config, supervisor: Supervisor) -> list[tuple[str, str]]:
    """(service, path) of every log to show: configured files, then captured output."""
    sources = [(s.name, path) for s in config.services for path in s.logs]
    for service in config.services:
        captured = supervisor.log_path(service.name)
        if captured is not None:
            sources.append((service.name, str(captured)))
    return sources


class SettingsController(QObject):
    """Owns the config in use. GUI thread, except the methods said to run on the settings queue."""

    applied = Signal(object)  # Applied, once the window shows it
    project_added = Signal(object)  # Applied, after Choose project folder… (or a ConfigError sentence: str)
    services_edited = Signal(object)  # ServicesEdited, after edit_services
    _file_changed = Signal(object)  # ConfigChange, emitted on the watcher's thread

    def __init__(
        self,
        config: Config,
        *,
        window: Callable[[], MainWindow | None],
        views: MutableMapping[str, Timeline],
        services_model: ServicesModel,
        ports_model: PortsModel,
        monitor: Monitor,
        supervisor: Supervisor,
        log_store: LogStore,
        log_tailer: LogTailer,
        executors: Executors,
        announce: Callable[[Announcement], None],
        parent: QObject,
        watcher: ConfigWatcher | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config  # what the window shows (GUI thread)
        self._engine_config = config  # what the engine runs on (settings queue)
        self._window = window  # the main window if it is built yet (it is built when first wanted)
        #: the line about the config file the window shows (text, problem), for a window built later
        self.status: tuple[str, bool] | None = None
        self.views = views
        self.services_model = services_model
        self.ports_model = ports_model
        self.monitor = monitor
        self.supervisor = supervisor
        self.log_store = log_store
        self.log_tailer = log_tailer
        self.executors = executors
        self.announce = announce
        self.closed = False
        self._problem_shown = False  # the window says the file on disk could not be used
        self.watcher = watcher or ConfigWatcher(self._file_changed.emit, load=load_file)
        self._file_changed.connect(self._on_file_changed)
        # A discovered project (issue #10): discovered again when its files change.
        self._rediscovery = Rediscovery(config)
        self._rediscover_timer = QTimer(self, interval=REDISCOVER_MS)
        self._rediscover_timer.timeout.connect(self._rediscover)
        self._rediscover_busy = False
        ports_model.set_watched(self.watched_ports())

    def attach(self, window: MainWindow) -> None:
        """The main window, built now: its Save to config, and the config status it would have shown."""
        window.services_tab.settings_requested.connect(self.save)
        if self.status is not None:
            window.show_config_status(self.status[0], problem=self.status[1])

    def _show_status(self, text: str, *, problem: bool) -> None:
        self.status = (text, problem)
        window = self._window()
        if window is not None:
            window.show_config_status(text, problem=problem)

    def _tab(self) -> ServicesTab | None:
        window = self._window()
        return None if window is None else window.services_tab

    def start(self) -> None:
        """Follow the logs (the files are opened on the settings queue) and watch the config file."""
        sources = log_sources(self.config, self.supervisor)
        for name, path in sources:
            self.log_store.add_source(name, path)
        tailer = self.log_tailer
        self.executors.settings.submit(lambda: tailer.follow_only(sources, backlog=RECENT_LINES))
        self.watcher.start(self.config)
        if self._rediscovery.watching:
            self._rediscover_timer.start()
            self._rediscover()

    def close(self) -> None:
        self.closed = True
        self._rediscover_timer.stop()
        self.watcher.stop(timeout=1.0)

    def watched_ports(self) -> dict[int, tuple[str, ...]]:
        return self.config.watched_ports()

    # -- saving ------------------------------------------------------------------------------

    @Slot(str, float, float)
    def save(self, service: str, interval: float, timeout: float) -> None:
        """Save to config: write the file, then apply it; both on the settings queue."""
        tab = self._tab()
        if tab is not None:
            tab.settings_note.setText("Saving…")
        task = Task(lambda: self._save_and_apply(service, interval=interval, timeout=timeout), self)
        task.done.connect(self._on_applied)
        task.failed.connect(self._on_save_failed)
        task.start(self.executors.settings)

    def _save_and_apply(self, service: str, **values: float) -> Applied:  # settings queue
        config = save_service_settings(self._engine_config, service, **values)
        self.watcher.watch(config)  # our own write is not news when the watcher sees it
        return self._apply(config, "saved")

    def add_project(self, folder: str) -> None:
        """Choose project folder…: write a ``[[project]]`` entry, load the stack with it, apply it live."""
        task = Task(lambda: self._add_project_and_apply(folder), self)
        task.done.connect(self._on_project_added)
        task.failed.connect(self._on_project_failed)
        task.start(self.executors.settings)

    def _add_project_and_apply(self, folder: str) -> Applied | str:  # settings queue
        try:
            path = add_project(self._engine_config, folder)
            config = load_stack(path)
        except ConfigError as exc:
            return str(exc)
        self.watcher.watch(config)  # our own write is not news when the watcher sees it
        return self._apply(config, "saved")

    def edit_services(self, change: ServicesChange) -> None:
        """Add, edit, duplicate or remove a service (the Services page): ``change`` writes the file
        on the settings queue, validated with the ``[[project]]`` services added; then it is applied
        live. The outcome comes as ``services_edited``."""
        task = Task(lambda: self._edit_and_apply(change), self)
        task.done.connect(self._on_services_edited)
        task.failed.connect(self._on_services_edit_failed)
        task.start(self.executors.settings)

    def _edit_and_apply(self, change: ServicesChange) -> ServicesEdited:  # settings queue
        try:
            edit = change(self._engine_config, expand_projects)
        except ConfigError as error:
            return ServicesEdited(str(error), error=error)
        self.watcher.watch(edit.config)  # our own write is not news when the watcher sees it
        return ServicesEdited(edit.what, edit.name, self._apply(edit.config, "saved"))

    @Slot(object)
    def _on_services_edited(self, outcome: ServicesEdited) -> None:
        if self.closed:
            return
        if outcome.applied is not None:
            self._on_applied(outcome.applied)
        self.services_edited.emit(outcome)

    @Slot(str)
    def _on_services_edit_failed(self, message: str) -> None:
        if not self.closed:
            self.services_edited.emit(ServicesEdited(f"Not saved: {message}"))

    @Slot(object)
    def _on_project_added(self, outcome: Applied | str) -> None:
        if self.closed:
            return
        if isinstance(outcome, Applied):
            self._on_applied(outcome)
        self.project_added.emit(outcome)

    @Slot(str)
    def _on_project_failed(self, message: str) -> None:
        if not self.closed:
            self.project_added.emit(f"The project folder was not added: {message}")

    @Slot(str)
    def _on_save_failed(self, message: str) -> None:
        if not self.closed:
            tab = self._tab()
            if tab is not None:
                tab.settings_note.setText(f"Not saved: {message}")

    # -- the file changed on disk ------------------------------------------------------------

    @Slot(object)
    def _on_file_changed(self, change: ConfigChange) -> None:
        if self.closed:
            return
        if change.error is not None:
            self._show_problem(change.error)
            return
        assert change.config is not None
        config, env_changed = change.config, change.env_changed
        task = Task(lambda: self._apply(config, "reloaded", env_changed), self)
        task.done.connect(self._on_applied)
        task.failed.connect(self._on_reload_failed)
        task.start(self.executors.settings)

    # -- a discovered project's files changed ------------------------------------------------

    @Slot()
    def _rediscover(self) -> None:
        if self._rediscover_busy or self.closed:
            return
        self._rediscover_busy = True
        task = Task(self._rediscover_and_apply, self)
        task.done.connect(self._on_rediscovered)
        task.failed.connect(self._on_rediscover_failed)
        task.start(self.executors.settings)

    def _rediscover_and_apply(self) -> Applied | ConfigError | None:  # settings queue
        try:
            config = self._rediscovery.check()
        except ConfigError as error:
            return error
        if config is None:
            return None
        log.info("the project's files changed; watching %s", ", ".join(s.name for s in config.services))
        self.watcher.watch(config)
        return self._apply(config, "rediscovered")

    @Slot(object)
    def _on_rediscovered(self, outcome: Applied | ConfigError | None) -> None:
        self._rediscover_busy = False
        if self.closed or outcome is None:
            return
        if isinstance(outcome, ConfigError):
            self._show_problem(outcome)
        else:
            self._on_applied(outcome)

    @Slot(str)
    def _on_rediscover_failed(self, message: str) -> None:
        self._rediscover_busy = False
        if not self.closed:
            self._show_status(f"The project's files changed, but trayapp cannot use them: {message}", problem=True)

    def _show_problem(self, error: ConfigError) -> None:
        name = Path(error.source).name if not error.source.startswith("<") else "The project's files"
        self._show_status(f"{error}. Not applied: trayapp goes on with the settings it had.", problem=True)
        services = (error.service,) if error.service in self.views else ()
        self.announce(
            Announcement(
                f"{name} not applied",
                f"{error}\ntrayapp goes on with the settings it had.",
                services,
                Severity.WARNING,
                "config",
            )
        )
        self._problem_shown = True

    @Slot(str)
    def _on_reload_failed(self, message: str) -> None:
        if not self.closed:
            self._show_status(f"The changed config could not be applied: {message}", problem=True)

    # -- applying ----------------------------------------------------------------------------

    def _apply(self, config: Config, how: str, env_changed: tuple[str, ...] = ()) -> Applied:  # settings queue
        """Give the engine ``config`` in place: only what changed is touched, nothing is joined."""
        if config == self._engine_config and not env_changed:
            return Applied(config, how, Reconfigured(kept=tuple(s.name for s in config.services)))
        changes = self.monitor.reconfigure(config.services)
        restart = self.supervisor.reconfigure(config)
        followed = self.log_tailer.follow_only(log_sources(config, self.supervisor), backlog=RECENT_LINES)
        for service in config.services:
            managed = service.managed
            if managed is not None and managed.env_file in env_changed and service.name not in restart:
                status = self.supervisor.status(service.name)
                if status is not None and status.pid is not None:
                    restart.append(service.name)
        self._engine_config = config
        return Applied(config, how, changes, tuple(followed), tuple(restart))

    @Slot(object)
    def _on_applied(self, applied: Applied) -> None:
        """Show a config the engine runs on now (GUI thread): views, tables, log sources, a note."""
        if self.closed:
            return
        config = applied.config
        tab = self._tab()  # None: no window yet, which shows the views as they are when it is built
        current = None if tab is None else tab.current_name()
        before = self.views[current].service if current in self.views else None
        changed = applied.changed_anything or config != self.config
        if changed:
            self.config = config
            views = {}
            for service in config.services:
                view = self.views.get(service.name) or Timeline(service)
                view.service = service
                views[service.name] = view
            self.views.clear()
            self.views.update(views)
            self.services_model.set_views(list(views.values()))
            self.ports_model.set_watched(self.watched_ports())
            for name, path in applied.followed:
                self.log_store.add_source(name, path)
            if tab is not None and current is not None and current in views:  # new values, and only new ones
                tab.select(current, reload_settings=views[current].service != before)
        restart = "".join(
            f" {name} runs with its old start settings or env_file: restart {name} to use the new ones."
            for name in applied.restart_to_apply
        )
        if applied.how == "saved" and tab is not None:
            tab.settings_note.setText(f"Saved to {config.source}.{restart}")
        if changed:
            when = time.strftime("%H:%M:%S")
            if applied.how == "rediscovered":
                head = f"The project's files changed; read again at {when}"
            else:
                head = f"{'Saved' if applied.how == 'saved' else 'Reloaded'} {config.source} at {when}"
            self._show_status(f"{head}{_summary(applied.changes)}.{restart}", problem=False)
        elif self._problem_shown:  # the file is usable again, and says what it said before
            self._show_status(f"{config.source} is usable again; nothing changed.", problem=False)
        self._problem_shown = False
        self.applied.emit(applied)


def _summary(changes: Reconfigured) -> str:
    parts = [
        f"{', '.join(names)} {verb}"
        for names, verb in ((changes.changed, "changed"), (changes.added, "added"), (changes.removed, "removed"))
        if names
    ]
    return ": " + "; ".join(parts) if parts else ""
