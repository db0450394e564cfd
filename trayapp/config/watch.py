"""Noticing that ``trayapp.toml`` (or an ``env_file`` it names) was changed outside trayapp.

:class:`ConfigWatcher` looks at the files by name every ``interval`` seconds: ``os.stat`` of
the path (through symlinks), compared by device, inode, size and modification time. That
sees every way a file gets saved: written in place, written to a temporary file and renamed
over the old one (vim, VS Code, JetBrains' "safe write"), the old one renamed to a backup
first, a dotfile manager pointing a symlink elsewhere, the folder replaced. An inotify watch
on the file (``QFileSystemWatcher``) follows the inode instead and is lost at the first rename;
polling the name cannot lose it, costs a few ``stat`` calls a second, and needs no Qt, so
the engine's other users can have it too. An editor's burst of writes is read once, when the
files have been still for ``settle`` seconds.

Reading and validating happen on the watcher's own thread; ``on_change`` is called there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trayapp.clock import Clock, SystemClock
from trayapp.config.load import Config, ConfigError, load_config

log = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between looks at the files
SETTLE = 0.3  # seconds the files must stay unchanged before they are read
MISSING_SETTLE = 2.0  # ... and the config file must stay missing before that is reported (a rename-save's gap)

Signature = tuple[int, ...] | None  # (device, inode, size, mtime ns); None when missing


@dataclass(frozen=True)
class ConfigChange:
    """What a change on disk amounts to: a new valid config, or why the file cannot be used.

    ``env_changed`` lists the ``env_file`` paths whose content changed since they were last
    read (with or without a change of the config itself); a child started before reads the
    old values until it is restarted.
    """

    config: Config | None
    error: ConfigError | None = None
    env_changed: tuple[str, ...] = ()


def env_files(config: Config) -> list[str]:
    """The ``env_file`` paths a config names (absolute, each once)."""
    found = (s.managed.env_file for s in config.services if s.managed is not None and s.managed.env_file)
    return list(dict.fromkeys(found))


class ConfigWatcher:
    """Watches a config's file and its env files; reports changes as :class:`ConfigChange`.

    ``on_change`` is called on the watcher's thread for a valid config that differs from the
    one known (given to :meth:`watch` or reported last) or follows a reported problem, for a
    change of an env file's content, and for a file that cannot be used, once per distinct
    reason. A built-in
    default config has no file: nothing is watched until :meth:`watch` gets one.
    """

    def __init__(
        self,
        on_change: Callable[[ConfigChange], None],
        *,
        interval: float = INTERVAL,
        settle: float = SETTLE,
        clock: Clock | None = None,
        load: Callable[[Path], Config] = load_config,
    ) -> None:
        self._on_change = on_change
        self._load = load
        self._interval = interval
        self._settle = settle
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._known: Config | None = None
        self._first_look = True  # the files have not been looked at since watch() named them
        self._seen: dict[str, Signature] = {}  # at the last look
        self._still_since = 0.0  # monotonic time the files last changed
        self._read: dict[str, Signature] | None = None  # when they were last read
        self._env_digests: dict[str, bytes | None] = {}
        self._last_error: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, config: Config) -> None:
        """Take ``config`` as the one in use (after a save, or at start-up). Any thread.

        A change on disk is one that makes a config other than this. Its file (if another than
        before) is taken as it is at the next look, on the watcher's thread; changes after that
        are news.
        """
        with self._lock:
            moved = self._known is None or self._known.path != config.path
            self._known = config
            if moved:
                self._first_look = True
                self._read = None

    def start(self, config: Config) -> None:
        self.watch(config)
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="trayapp-config-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the watcher's thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.look()
            except Exception:  # noqa: BLE001 - a watcher that dies silently is worse than one that logs
                log.exception("looking at the config file failed")
            self._stopping.wait(self._interval)

    def look(self) -> None:
        """One look at the files (the watcher's thread; tests may call it directly)."""
        with self._lock:
            known, first = self._known, self._first_look
        if known is None or known.path is None:
            return
        paths = [str(known.path), *env_files(known)]
        signatures = {path: _signature(path) for path in paths}
        now = self._clock.monotonic()
        if signatures != self._seen:
            self._seen, self._still_since = signatures, now
        if first:  # the files as they are when watching starts: what changes after this is news
            with self._lock:
                if self._known is known:
                    self._first_look, self._read = False, signatures
            self._env_digests = {path: _digest(path) for path in env_files(known)}
            return
        settle = self._settle if signatures[paths[0]] is not None else max(self._settle, MISSING_SETTLE)
        if signatures == self._read or now - self._still_since < settle:
            return
        with self._lock:
            if self._known is not known:
                return  # watch() gave another config meanwhile: look again next time
            self._read = signatures
        digests = {path: _digest(path) for path in env_files(known)}
        env_changed = tuple(
            path for path, digest in digests.items() if path in self._env_digests and self._env_digests[path] != digest
        )
        self._env_digests = digests
        try:
            config = self._load(known.path)
        except ConfigError as error:
            if str(error) != self._last_error:
                self._last_error = str(error)
                self._deliver(ConfigChange(None, error))
            return
        recovered, self._last_error = self._last_error is not None, None
        if config == known and not env_changed and not recovered:
            return
        with self._lock:
            if self._known is known:
                self._known = config
        self._env_digests.update({path: _digest(path) for path in env_files(config) if path not in digests})
        self._deliver(ConfigChange(config, None, env_changed))

    def _deliver(self, change: ConfigChange) -> None:
        try:
            self._on_change(change)
        except Exception:  # noqa: BLE001 - the subscriber's fault; watching goes on
            log.exception("config change subscriber failed")


def _signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return (-1, exc.errno or 0)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(path: str) -> bytes | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return None
