"""The ``trayapp`` command line. Exit codes: 0 all up, 1 something degraded/down, 2 usage/config error."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from trayapp import package_version
from trayapp.config.load import Config, ConfigError, ServiceConfig
from trayapp.model import FINE, CheckResult, Listener, State, Transition, overall_state
from trayapp.text import format_cmdline, format_latency, humanize_age

# Each command imports what it needs when it runs (issue #12): `trayapp ports` must not pay
# for httpx, pymongo or the supervisor, and no command but the tray pays for Qt.
if TYPE_CHECKING:
    from trayapp.logs.tail import LogItem
    from trayapp.monitor.scheduler import Event
    from trayapp.supervise.kill import KillPlan, KillTarget

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("trayapp")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    # SUPPRESS so `trayapp --config F status` is not undone by the sub-command's default.
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="config file (default: $TRAYAPP_CONFIG, ./trayapp.toml, the project here, the user config dir; "
        "`trayapp config` says which)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log debugging detail to stderr (status: also each full diagnosis)",
    )

    parser = _Parser(
        prog="trayapp",
        description="Watch a local web stack and say what is wrong and who is to blame.\n"
        "Without a command it starts the tray app.",
        epilog=_epilog(
            [
                ("trayapp", "the tray app (in a project folder: that project's stack)"),
                ("trayapp status", "check everything once"),
                ("trayapp config", "which config is in use, and why"),
                ("trayapp COMMAND --help", "what a command does, with examples"),
            ],
            {0: "all services up / the command did what it says", 1: "something is down or failed", 2: USAGE_EXIT},
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show program's version number and exit")
    # No set_defaults(config=...) here: the parent's actions are shared with every sub-command,
    # and a default on them would make the sub-command overwrite `trayapp --config F status`.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", description="without a command: the tray app")

    def command(name: str, summary: str, what: str, examples: list[tuple[str, str]], exits: dict[int, str]) -> Any:
        """A sub-command whose --help says what it does (``what``), with examples and exit codes."""
        return sub.add_parser(
            name,
            parents=[common],
            help=summary,
            description=what,
            epilog=_epilog(examples, exits),
            formatter_class=_HelpFormatter,
        )

    p = command(
        "status",
        "check every service once and print the result",
        "Check every service once, at the same time, and print one line per service: its state,\n"
        "how long the check took and what it found in a few words (-v adds the full sentence).",
        [
            ("trayapp status", "the table"),
            ("trayapp status -v", "with each full diagnosis"),
            ("trayapp status --json | jq .overall", "for scripts"),
        ],
        {0: "every service is up", 1: "a service is degraded, down or unknown", 2: USAGE_EXIT},
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "watch",
        "monitor in the foreground, printing changes",
        "Check every service on its interval until Ctrl-C or SIGTERM. Prints a line when a service's\n"
        "state changes, or when a check finds something new; --json prints every check as well.",
        [("trayapp watch", "changes only"), ("trayapp watch --json | jq -c 'select(.event==\"transition\")'", "")],
        {0: "every service was up when it stopped", 1: "a service was not up when it stopped", 2: USAGE_EXIT},
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per line")

    p = command(
        "ports",
        "show who listens on the watched ports (or on PORT...)",
        "Show the process behind each listening port: pid, user, age, service and command line.\n"
        "Without PORT: the ports the config's services use.",
        [("trayapp ports", "the watched ports"), ("trayapp ports 5000 5173", ""), ("trayapp ports --all", "")],
        {0: "something listens on every port asked about", 1: "nothing listens on one of them", 2: USAGE_EXIT},
    )
    p.add_argument("ports", nargs="*", type=_port_arg, metavar="PORT", help="a TCP port number (1-65535)")
    p.add_argument("--all", action="store_true", help="every listening socket on this machine")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "kill",
        "safely stop whatever holds PORT (asks first)",
        "Stop the processes that listen on PORT and their children: shows them and asks, then\n"
        "SIGTERM, and SIGKILL after the grace time. Never pid 1, trayapp or another user's process.",
        [
            ("trayapp kill 5000", "shows what it would stop and asks"),
            ("trayapp kill 5000 --yes --grace 2", ""),
            ("trayapp kill 5000 --with-watcher", "nodemon (or PM2, …) above it too"),
        ],
        {0: "the port is free", 1: "nothing to stop, not allowed, answered no, or it survived", 2: USAGE_EXIT},
    )
    p.add_argument("port", type=_port_arg, metavar="PORT", help="the TCP port whose holder to stop")
    p.add_argument(
        "--grace", type=_seconds_arg, default=5.0, metavar="S", help="seconds between SIGTERM and SIGKILL (default: 5)"
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--with-watcher",
        action="store_true",
        help="also stop the watcher or process manager above it (nodemon, PM2, …), which would start it again",
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    for action, summary, what, done in (
        (
            "start",
            "start a managed service and wait until it is healthy",
            "Run the service's 'start' command (through the running tray if there is one) and wait\n"
            "until its health check passes or start_timeout runs out.",
            "started, and its health check passes",
        ),
        (
            "stop",
            "stop a managed service",
            "Send the service's stop signal (stop_signal, SIGTERM by default) to its process group,\n"
            "then SIGKILL after stop_timeout.",
            "stopped (or it was not running)",
        ),
        (
            "restart",
            "stop, free the port, start, and wait until it is healthy",
            "Stop the service, make sure its port is free, start it again and wait until it is healthy.",
            "restarted, and its health check passes",
        ),
    ):
        p = command(
            action,
            summary,
            what + "\nOnly for services with a 'start' command in the config.",
            [(f"trayapp {action} backend", ""), (f"trayapp {action} --all", "every managed service")],
            {0: done, 1: "it failed; the reason is printed", 2: USAGE_EXIT},
        )
        p.add_argument("name", nargs="?", metavar="NAME", help="the service's name in the config (see trayapp status)")
        p.add_argument(
            "--all",
            action="store_true",
            dest="all_services",
            help=f"{action} every managed service, in dependency order (stop: in reverse)",
        )
        p.add_argument("--yes", action="store_true", help="kill a process trayapp did not start without asking")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "init",
        "write DIR/trayapp.toml from what the project's files say",
        "Discover a JavaScript project's dev stack (package.json scripts, .env files, Vite proxy,\n"
        "compose files) and write it as DIR/trayapp.toml, each value with the file and line it came from.",
        [("trayapp init", "this folder"), ("trayapp init ~/code/shop --print", "show it, write nothing")],
        {0: "written (or printed)", 1: "not a JavaScript project, or trayapp.toml exists", 2: "no such folder"},
    )
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project folder (default: here)")
    p.add_argument("--print", action="store_true", dest="print_only", help="print it instead of writing it")
    p.add_argument("--force", action="store_true", help="overwrite an existing trayapp.toml")

    p = command(
        "doctor",
        "check a project before running it: env, proxy, ports, db",
        "Check a project's setup without running it: .env files, the Vite proxy target, ports in\n"
        "use, the database URI, Node's version against engines.node.",
        [("trayapp doctor", "this folder"), ("trayapp doctor ~/code/shop --json", "")],
        {0: "no errors (warnings may be printed)", 1: "errors found", 2: USAGE_EXIT},
    )
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project folder (default: here)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "logs",
        "print (and follow) a service's logs",
        "Print the last lines of a service's log files (its 'log' files, and the output trayapp kept\n"
        "of a managed service). JSON lines (pino, bunyan, winston) are shown as time, level and\n"
        "message, as the window shows them; --raw prints the lines as they are in the file.",
        [("trayapp logs backend", "the last 20 lines"), ("trayapp logs backend -f -n 100", "then follow")],
        {0: "printed (a missing file is said on stderr)", 2: "no such service, or it has no logs"},
    )
    p.add_argument("name", metavar="NAME", help="the service's name in the config (see trayapp status)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines, across rotation")
    p.add_argument(
        "-n", "--lines", type=int, default=20, metavar="N", help="how many lines to print first (default: 20)"
    )
    p.add_argument("--raw", action="store_true", help="print the lines as they are in the file, JSON included")

    command(
        "config",
        "show which config is in use, why, and where to put one",
        "Say which config trayapp uses here and why (--config, $TRAYAPP_CONFIG, ./trayapp.toml, a\n"
        "discovered project, the user's config file, or the built-in default), list its services,\n"
        "and say where a config file would be looked for.",
        [("trayapp config", ""), ("cd ~/code/shop && trayapp config", "what a project folder gives")],
        {0: "the config in use is valid", 2: "it is not; the sentence says what and where"},
    )

    p = command(
        "desktop",
        "add trayapp to (or remove it from) the application menu",
        "Write the desktop entry and the app icons to your XDG data folder\n"
        "($XDG_DATA_HOME, ~/.local/share): applications/trayapp.desktop and icons/hicolor/*/apps.",
        [("trayapp desktop install", ""), ("trayapp desktop uninstall", "also turns off start at login")],
        {0: "done", 1: "a file could not be written or removed", 2: USAGE_EXIT},
    )
    p.add_argument("action", choices=("install", "uninstall"), help="install or uninstall")

    p = command(
        "autostart",
        "start trayapp at login (on, off, or show)",
        "Start the tray when you log in: an XDG autostart entry on Linux, a LaunchAgent on macOS,\n"
        "the HKCU Run key on Windows. The tray menu has the same switch.",
        [("trayapp autostart on", ""), ("trayapp autostart", "is it on?")],
        {0: "done (show: it is on)", 1: "show: it is off; or it could not be changed", 2: USAGE_EXIT},
    )
    p.add_argument("action", nargs="?", choices=("on", "off", "show"), default="show", help="default: show")
    return parser


class _UsageError(Exception):
    """A command line argparse cannot make sense of ("trayapp status: error: ...")."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake raised (so ``--json`` can answer it in JSON) rather than printed and exited."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class Refused(Exception):
    """A command that cannot or will not do what was asked: the sentence it says (on stderr),
    its exit code, and for ``--json`` the fields of the command's own JSON shape."""

    def __init__(self, said: str, code: int, **fields: object) -> None:
        super().__init__(said)
        self.said, self.code, self.fields = said, code, fields


USAGE_EXIT = "usage or config error (the message says which, and where)"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Description and epilog as written (examples keep their lines); option help shows its text only."""


def _epilog(examples: list[tuple[str, str]], exits: dict[int, str]) -> str:
    width = max(len(e) for e, _ in examples)
    lines = ["examples:"]
    lines += [f"  {e:<{width}}  {('# ' + note) if note else ''}".rstrip() for e, note in examples]
    lines.append("\nexit codes:")
    lines += [f"  {code}  {text}" for code, text in sorted(exits.items())]
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """``--version``."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"trayapp {package_version()}")
        parser.exit()


def _port_arg(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (1-65535)")
    return port


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (0-600 seconds)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; with ``--json`` every outcome, a refusal or a mistake included, is one
    JSON object on stdout (``{"ok": false, "detail": ...}`` plus the command's own fields)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(raw)
    except _UsageError as exc:
        return _refused(Refused(str(exc), EXIT_USAGE), "--json" in raw)
    for name, default in (("config", None), ("verbose", False), ("json", False)):
        if not hasattr(args, name):  # options given neither before nor after the sub-command
            setattr(args, name, default)
    log_file = _setup_logging(args.verbose)
    command: Callable[[argparse.Namespace], int] = COMMANDS.get(args.command, cmd_tray)
    try:
        return command(args)
    except Refused as exc:
        return _refused(exc, args.json)
    except ConfigError as exc:
        return _refused(Refused(f"trayapp: {exc}", EXIT_USAGE), args.json)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `trayapp watch | head`
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - users get a sentence, the log gets the traceback
        log.exception("unexpected error")
        said = f"trayapp: unexpected error: {type(exc).__name__}: {exc} (details in {log_file.path})"
        return _refused(Refused(said, EXIT_PROBLEM), args.json)


def _dumps(value: object, indent: int | None = None) -> str:
    """``json.dumps``, imported when a command answers in JSON (1 ms of start-up otherwise)."""
    import json

    return json.dumps(value, indent=indent)


def _refused(refusal: Refused, as_json: bool) -> int:
    """Say why on stderr; with ``--json`` also as a JSON object on stdout. Returns the exit code."""
    print(refusal.said, file=sys.stderr)
    if as_json:
        detail = refusal.said.removeprefix("trayapp: ")
        print(_dumps({"ok": False, "detail": detail, **refusal.fields}))
    return refusal.code


def _setup_logging(verbose: bool) -> _LogFile:
    """``-v``: trayapp's own debugging detail on stderr and in the log file; the libraries'
    (pymongo's topology JSON, httpx's request lines) only from a warning up, so ``status -v``
    stays readable."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if verbose:
        logging.getLogger("trayapp").setLevel(logging.DEBUG)
        stderr = logging.StreamHandler(sys.stderr)
        stderr.addFilter(_ours_or_a_warning)
        root.addHandler(stderr)
    handler = _LogFile(logging.DEBUG if verbose else logging.WARNING)
    handler.addFilter(_ours_or_a_warning)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root.addHandler(handler)
    return handler


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    return record.name == "trayapp" or record.name.startswith("trayapp.") or record.levelno >= logging.WARNING


class _LogFile(logging.Handler):
    """trayapp.log in the user's log folder (1 MB, three old ones kept), opened at the first
    record it keeps: a command that logs nothing imports neither ``logging.handlers`` nor
    ``platformdirs`` (about 10 ms of start-up). A read-only home must not stop the CLI: then
    records are dropped."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self._file: logging.Handler | None = None
        self._failed = False

    @property
    def path(self) -> Path:
        import platformdirs

        return Path(platformdirs.user_log_dir("trayapp", appauthor=False)) / "trayapp.log"

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            if self._failed:
                return
            import logging.handlers

            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = logging.handlers.RotatingFileHandler(
                    self.path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
                )
            except OSError:
                self._failed = True
                return
            self._file.setFormatter(self.formatter)
            self._file.setLevel(self.level)
        self._file.handle(record)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


# -- the tray app ----------------------------------------------------------------


def cmd_tray(args: argparse.Namespace) -> int:
    """No sub-command: the desktop tray app. Qt is imported only here, so the CLI stays Qt-free."""
    from trayapp.ui.sources import keep_no_module_sources

    keep_no_module_sources()  # before the UI's imports: 8-12 MiB less for good (issue #12)
    from trayapp.ui.app import run

    return run(args.config)


# -- status --------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from trayapp.checks.checker import check_once
    from trayapp.project.load import load_stack

    def load_the_rest() -> None:
        """What is needed only once the checks are done, imported while they run (issue #12)."""
        import trayapp.monitor.rootcause
        import trayapp.supervise.supervisor  # noqa: F401

    config = load_stack(args.config)
    checked = check_once(config.services, while_waiting=load_the_rest)
    from trayapp.monitor.rootcause import stale_once, with_blocked_by
    from trayapp.supervise.supervisor import settle_stopped

    results = settle_stopped(config.services, checked)
    results = with_blocked_by(stale_once(results, config.services), config.services)
    overall = overall_state([r.state for r in results])
    if getattr(args, "json", False):
        services = [
            dict(r.to_json(), source=config.source_of(s)) for r, s in zip(results, config.services, strict=True)
        ]
        print(_dumps({"overall": str(overall), "services": services}, indent=2))
    else:
        _print_status_table(results, overall, config, sys.stdout, sentences=args.verbose)
    return EXIT_OK if overall in FINE else EXIT_PROBLEM


def _print_status_table(
    results: list[CheckResult], overall: State, config: Config, out: TextIO, *, sentences: bool = False
) -> None:
    """One line per service: name, state, latency and the headline; ``sentences`` (``-v``) adds
    the full diagnosis on an indented line under each."""
    paint = _painter(out)
    width = max(len(r.service) for r in results)
    for r in results:
        latency = format_latency(r.latency_ms) if r.latency_ms is not None and r.answered else ""
        state = paint(r.state, f"{r.state:<8}")
        print(f"{r.service:<{width}}  {state}  {latency:>8}  {r.headline}", file=out)
        if sentences:
            print(f"{'':<{width}}  {r.detail}", file=out)
    from trayapp.monitor.rootcause import root_summary

    for line in root_summary(results):
        print(f"\nroot cause: {line}", file=out)
    discovered = [s for s in config.services if s.source == "discovered"]
    if discovered:
        print("", file=out)
        for service in discovered:
            print(f"{service.name:<{width}}  {service.source_text}", file=out)
    print(f"\noverall: {paint(overall, str(overall))}   (config: {config.source})", file=out)
    if config.source.startswith("<discovered"):
        print("no trayapp.toml here: `trayapp init` writes this stack to one, `trayapp doctor` checks it", file=out)


_COLOURS = {
    State.UP: "32",
    State.DEGRADED: "33",
    State.DOWN: "31",
    State.UNKNOWN: "90",
    State.STARTING: "34",
    State.STOPPING: "34",
    State.STOPPED: "90",
}


def _painter(out: TextIO) -> Callable[[State, str], str]:
    if not out.isatty() or os.environ.get("NO_COLOR"):
        return lambda _state, text: text
    return lambda state, text: f"\033[{_COLOURS[state]}m{text}\033[0m"


# -- watch ---------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    from trayapp.monitor.notifier import Notifier
    from trayapp.monitor.scheduler import Monitor
    from trayapp.power.events import PowerEvent, PowerEventKind, PowerMonitor
    from trayapp.power.sources import sleep_sources
    from trayapp.power.wake import WakeCoordinator, WakeEvent
    from trayapp.project.load import load_stack
    from trayapp.supervise.exits import ExitReporter
    from trayapp.supervise.supervisor import idle_services

    config = load_stack(args.config)
    monitor = Monitor(config.services)
    printer = _JsonPrinter() if args.json else _HumanPrinter(_painter(sys.stdout))
    monitor.subscribe(printer)

    # Sleep and wake (issue #5): pause before sleep, re-check the moment the machine is back.
    power = PowerMonitor()
    for source in sleep_sources(gui=False):
        power.add_source(source)
    wake = WakeCoordinator(monitor, Notifier(monitor.clock), monitor.clock)
    power.subscribe(wake.on_power)

    def show_wake(event: WakeEvent) -> None:
        if args.json:
            printer(event)  # type: ignore[arg-type]  # it only needs to_json()
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.t))
        if isinstance(event, PowerEvent) and event.kind is PowerEventKind.SUSPENDING:
            line = "the machine is going to sleep; checks paused"
        elif isinstance(event, PowerEvent):
            slept = "" if event.slept_s is None else f" (slept {event.slept_s:.0f} s)"
            line = f"back from sleep{slept}; re-checking everything"
        else:
            line = event.announcement.title
        print(f"{stamp} {line}", flush=True)

    wake.subscribe(show_wake)
    if not args.json:
        names = ", ".join(s.name for s in config.services)
        print(f"watching {names} (config: {config.source}); Ctrl-C to stop", flush=True)
    for idle in idle_services(config.services):  # managed, never started or stopped: grey, no alarm
        monitor.report(idle)
    # No supervisor here, but the exit of a child trayapp started (the tray, `trayapp start`) is
    # still seen at once, not at the next check (issue #12): its record names it.
    exits = ExitReporter(monitor, config.services)
    from trayapp.stop_signals import StopSignals

    with StopSignals() as stop:  # SIGTERM or Ctrl-C, whichever thread takes it (issue #8)
        monitor.start()
        exits.start()
        wake.start()
        power.start()
        try:
            stop.wait()
        finally:
            power.stop(timeout=0.2)
            wake.stop(timeout=0.2)
            exits.stop(timeout=0.2)
            monitor.stop(timeout=0.2)
    states = [s.state for s in monitor.status()]
    return EXIT_OK if overall_state(states) in FINE else EXIT_PROBLEM


class _JsonPrinter:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = _dumps(event.to_json())
        with self._lock:
            print(line, flush=True)


class _HumanPrinter:
    """Prints changes only: a transition, or a check that says something new for its service.

    The monitor sends each check first and then, when that check changed the service's
    state, a transition for the same result (scheduler.Monitor._emit). A check whose
    ``service_state`` differs from the state printed last is such a one: its transition line
    follows and says it, so the check is not printed as well (it was, twice per first result).
    """

    def __init__(self, paint: Callable[[State, str], str]) -> None:
        self._lock = threading.Lock()
        self._paint = paint
        self._last: dict[str, tuple[str, str, str]] = {}  # (state, reason, headline) of the last line per service
        self._state: dict[str, State] = {}  # the service's state as the last transition printed it

    def __call__(self, event: Event) -> None:
        from trayapp.monitor.scheduler import CheckEvent

        with self._lock:
            if isinstance(event, Transition):
                stamp = _clock(event.t)
                self._state[event.service] = event.new
                self._last[event.service] = (str(event.new), str(event.reason), event.headline)
                new = self._paint(event.new, str(event.new))
                if event.old is event.new:  # the same state, a new reason (a crash explained, a stale driver)
                    line = f"{stamp} {event.service}: {new} ({event.reason})  {event.detail}"
                else:
                    line = f"{stamp} {event.service}: {event.old} -> {new}  {event.detail}"
            else:
                assert isinstance(event, CheckEvent)
                r = event.result
                key = (str(r.state), str(r.reason), r.headline)  # a new cause of the same state is news
                if self._last.get(r.service) == key:
                    return
                if event.service_state is not self._state.get(r.service, State.UNKNOWN):
                    return  # its transition comes next and is printed instead
                self._last[r.service] = key
                line = f"{_clock(r.t)} {r.service}: {self._paint(r.state, str(r.state))} ({r.reason})  {r.detail}"
            print(line, flush=True)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


# -- ports ---------------------------------------------------------------------


def cmd_ports(args: argparse.Namespace) -> int:
    from trayapp.checks.ports import listeners
    from trayapp.project.load import load_stack

    config = load_stack(args.config)
    watched = config.watched_ports()
    ours = {s.identity: s.name for s in config.services if s.managed is not None}
    wanted: set[int] | None = None if args.all else set(args.ports or watched)
    found = listeners(wanted)
    missing = sorted((wanted or set()) - {x.port for x in found})
    if args.json:
        rows = [_port_row(x, watched.get(x.port, ()) or _own(x, ours)) for x in found]
        print(_dumps({"listeners": rows, "not_listening": missing}, indent=2))
    else:
        _print_ports_table(found, watched, missing, sys.stdout, ours)
    return EXIT_PROBLEM if missing else EXIT_OK


def _own(listener: Listener, ours: dict[str, str]) -> tuple[str, ...]:
    """The managed service a listener was started for (its TRAYAPP_SERVICE mark), if it is one of ours."""
    name = ours.get(listener.tag or "")
    return (name,) if name else ()


def _port_row(listener: Listener, names: tuple[str, ...]) -> dict[str, object]:
    """A listener as JSON with the services that watch its port: ``service`` the first in config order
    (or null), ``services`` every one."""
    return dict(listener.to_json(), service=names[0] if names else None, services=list(names))


def _print_ports_table(
    found: list[Listener],
    watched: dict[int, tuple[str, ...]],
    missing: list[int],
    out: TextIO,
    ours: dict[str, str] | None = None,
) -> None:
    from trayapp.checks.ports import describe_owner

    now = time.time()
    ours = ours or {}
    rows = [("PORT", "ADDRESS", "PID", "SERVICE", "OWNER", "COMMAND")]
    for x in sorted(found, key=lambda x: (x.port not in watched, x.port, x.address)):
        command = format_cmdline(x.cmdline) if x.cmdline else ""
        names = ", ".join(watched.get(x.port, ()) or _own(x, ours))
        owner = describe_owner(x, now)
        if x.tag and x.tag in ours:
            owner += f", started by trayapp for {ours[x.tag]}"
        elif x.tag:
            owner += f", started by trayapp for {x.tag.rpartition(':')[2]} of another config"
        if x.watcher is not None:
            owner += f", under {x.watcher.label}"
        rows.append((str(x.port), x.address, str(x.pid or "?"), names, owner, command))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5], file=out)
    for port in missing:
        service = f" ({', '.join(watched[port])})" if port in watched else ""
        print(f"nothing listens on port {port}{service}", file=out)


# -- kill ----------------------------------------------------------------------


def cmd_kill(args: argparse.Namespace) -> int:
    from trayapp.supervise.kill import execute_kill, plan_kill

    plan = plan_kill(args.port, with_watcher=args.with_watcher)
    if plan.problem is not None:
        report = execute_kill(plan, grace=args.grace)  # reports the problem without signalling
        _print_kill(report.to_json(), report.detail, args.json)
        return EXIT_PROBLEM
    if not args.yes:
        unasked = {"port": args.port, "outcome": "not_confirmed", "terminated": [], "forced": [], "skipped": []}
        if not sys.stdin.isatty():  # show what it would have asked about, then refuse
            _show_plan(plan, sys.stderr)
            said = "trayapp: not asking on a non-terminal; pass --yes to kill without confirmation"
            raise Refused(said, EXIT_USAGE, **unasked, elapsed_s=0.0)
        if not _confirm(plan, sys.stderr if args.json else sys.stdout):
            raise Refused("nothing killed", EXIT_PROBLEM, **unasked, elapsed_s=0.0)
    report = execute_kill(plan, grace=args.grace)
    _print_kill(report.to_json(), report.detail, args.json)
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _confirm(plan: KillPlan, out: TextIO | None = None) -> bool:
    """Show what would be stopped (and the watcher above it) and ask on the terminal (on ``out``:
    stderr under ``--json``)."""
    out = out or sys.stdout
    _show_plan(plan, out)
    question = f"Stop {len(plan.targets)} process(es)? [y/N] "
    if out is sys.stdout:
        try:
            answer = input(question)
        except EOFError:
            return False
    else:
        print(question, end="", file=out, flush=True)
        answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _show_plan(plan: KillPlan, out: TextIO) -> None:
    """What ``kill`` would stop, and the watcher above it that it would spare."""
    from trayapp.checks.ports import restarts_when

    print(f"These processes hold port {plan.port} and would be stopped (SIGTERM, then SIGKILL):", file=out)
    for target in plan.targets:
        _print_target(target, out)
    for watcher in plan.spared_watchers:
        print(
            f"Above them runs {watcher.label}, which will start them again {restarts_when(watcher.kind)}; "
            "it is not stopped (pass --with-watcher to stop it too):",
            file=out,
        )
        _print_target(watcher, out)


def _print_target(target: KillTarget, out: TextIO) -> None:
    age = f", started {humanize_age(time.time() - target.started)} ago" if target.started else ""
    role = f"{target.role}: {target.kind}" if target.kind else target.role
    whose = f", started by trayapp for {target.service}" if target.service else ""
    print(f"  pid {target.pid} ({role}) {target.name or '?'}, user {target.user or '?'}{age}{whose}", file=out)
    print(f"      command: {format_cmdline(target.cmdline) if target.cmdline else '(hidden)'}", file=out)
    print(f"      cwd:     {target.cwd or '(hidden)'}", file=out)


def _print_kill(data: dict[str, object], detail: str, as_json: bool) -> None:
    if as_json:
        print(_dumps(data, indent=2))
    else:
        print(detail)


# -- start / stop / restart ------------------------------------------------------------


def cmd_service_action(args: argparse.Namespace) -> int:
    """start / stop / restart NAME: through the running tray if there is one, else directly."""
    from trayapp.control import ControlError, TrayUnavailable, ask_tray
    from trayapp.project.load import load_stack
    from trayapp.supervise.supervisor import Supervisor

    config = load_stack(args.config)
    if args.all_services == (args.name is not None):
        raise Refused(f"trayapp {args.command}: name one service or pass --all, not both", EXIT_USAGE, elapsed_s=0.0)
    if args.all_services:
        return _service_action_all(args, config)
    service = config.service(args.name)
    managed = service.managed
    if managed is None:
        raise Refused(
            f"trayapp: {config.source}: service {service.name!r} has no 'start' command, so trayapp cannot "
            f'{args.command} it; add e.g. start = "npm run dev"',
            EXIT_USAGE,
            elapsed_s=0.0,
        )
    yes = args.yes
    if args.command in ("start", "restart") and not yes:
        yes = _confirm_foreign_holder(config, service, sys.stderr if args.json else sys.stdout)
    budget = managed.stop_timeout + managed.start_timeout + 30
    try:
        request = {"cmd": args.command, "service": service.name, "identity": service.identity,
                   "config": service.home, "yes": yes}  # fmt: skip
        answer_json = ask_tray(request, timeout=budget)
        if answer_json.get("foreign") is True:  # the tray watches another project's service of that name
            raise TrayUnavailable(str(answer_json.get("detail", "")))
        ok, detail = bool(answer_json.get("ok")), str(answer_json.get("detail", ""))
        elapsed = float(answer_json.get("elapsed_s", 0.0))
    except TrayUnavailable:  # this project's service is not the tray's: done here, on this config's records
        supervisor = Supervisor(config)
        if args.command == "stop":
            result = supervisor.stop(service.name)
        else:
            result = getattr(supervisor, args.command)(service.name, confirm=lambda _plan: yes)
        supervisor.close()
        ok, detail, elapsed = result.ok, result.detail, result.elapsed_s
    except TimeoutError as exc:
        ok, detail, elapsed = False, f"trayapp: {exc}", float(budget)
    except ControlError as exc:  # the tray may have done it: not done again here
        ok, detail, elapsed = False, f"trayapp: {exc}", 0.0
    if args.json:
        print(_dumps({"ok": ok, "detail": detail, "elapsed_s": round(elapsed, 3)}))
    else:
        print(detail, file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_PROBLEM


def _service_action_all(args: argparse.Namespace, config: Config) -> int:
    """start / stop / restart --all: every managed service of ``config`` in dependency order, through
    the running tray if it manages them all (the same services: same identities), else directly."""
    from trayapp.control import ControlError, TrayUnavailable, ask_tray
    from trayapp.supervise.supervisor import Supervisor
    from trayapp.supervise.together import run_all

    services = [s for s in config.services if s.managed is not None]
    if not services:
        raise Refused(
            f"trayapp: {config.source}: no service has a 'start' command, so there is nothing to {args.command}",
            EXIT_USAGE,
            elapsed_s=0.0,
        )
    confirmed: set[str] = set()  # services whose port holder (not started by trayapp) may be killed
    if args.command in ("start", "restart"):
        out = sys.stderr if args.json else sys.stdout
        confirmed = {s.name for s in services if args.yes or _confirm_foreign_holder(config, s, out)}
    budget = sum(s.managed.stop_timeout + s.managed.start_timeout for s in services if s.managed) + 30
    answer: dict[str, object]
    try:
        request = {"cmd": args.command, "all": True, "identities": [s.identity for s in services],
                   "config": config.source, "yes": sorted(confirmed)}  # fmt: skip
        answer = ask_tray(request, timeout=budget)
        if answer.get("foreign") is True:  # the tray watches other services: done here
            raise TrayUnavailable(str(answer.get("detail", "")))
        answer = {k: answer[k] for k in ("ok", "detail", "elapsed_s", "services") if k in answer}
    except TrayUnavailable:
        supervisor = Supervisor(config)
        try:
            done = run_all(supervisor, services, args.command, confirm=lambda name, _plan: name in confirmed)
        finally:
            supervisor.close()
        answer = done.to_json()
    except TimeoutError as exc:
        answer = {"ok": False, "detail": f"trayapp: {exc}", "elapsed_s": float(budget), "services": []}
    except ControlError as exc:  # the tray may have done it: not done again here
        answer = {"ok": False, "detail": f"trayapp: {exc}", "elapsed_s": 0.0, "services": []}
    ok = answer.get("ok") is True
    if args.json:
        print(_dumps(answer))
    else:
        rows = answer.get("services")
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                print(str(row.get("detail", "")), file=sys.stdout if row.get("ok") else sys.stderr)
        print(str(answer.get("detail", "")), file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_PROBLEM


def _confirm_foreign_holder(config: Config, service: ServiceConfig, out: TextIO) -> bool:
    """If a process trayapp did not start holds the port: ask on a terminal (on ``out``).

    Returns whether to kill it (False when nothing foreign holds the port); raises
    :class:`Refused` when the answer is no or there is no terminal to ask on.
    """
    from trayapp.checks.ports import listeners
    from trayapp.supervise.kill import describe_holders, plan_kill
    from trayapp.supervise.supervisor import Supervisor

    if service.port is None or not listeners([service.port]):
        return False
    plan = plan_kill(service.port)
    ours = Supervisor(config)
    foreign = [t for t in plan.targets if not ours.is_ours(t.pid)]
    ours.close()
    if not foreign and plan.problem is None:
        return False
    if plan.problem is not None:
        raise Refused(f"trayapp: {plan.problem}", EXIT_PROBLEM, elapsed_s=0.0)
    if not sys.stdin.isatty():
        holders = describe_holders(replace(plan, targets=tuple(foreign)))
        raise Refused(
            f"trayapp: port {service.port} is held by {holders}, which trayapp did not start; "
            "pass --yes to kill it first",
            EXIT_PROBLEM,
            elapsed_s=0.0,
        )
    if not _confirm(plan, out):
        raise Refused("nothing killed, nothing started", EXIT_PROBLEM, elapsed_s=0.0)
    return True


# -- logs --------------------------------------------------------------------------------


def cmd_logs(args: argparse.Namespace) -> int:
    from trayapp.logs.format import LINE_BREAK, parse_line
    from trayapp.logs.tail import FileFollower, LogLine, LogTailer, NoticeKind, last_lines
    from trayapp.paths import captured_output
    from trayapp.project.load import load_stack

    config = load_stack(args.config)
    service = config.service(args.name)
    sources = list(service.logs)
    if service.managed is not None:
        sources.append(str(captured_output(service.home, service.name)))
    if not sources:
        print(
            f'trayapp: {config.source}: service {service.name!r} has no logs: add log = "path/to/app.log" '
            "or a start command (trayapp then keeps its output)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    many = len(sources) > 1
    count = max(0, args.lines)

    def shown(text: str) -> str:
        """A line as the window shows it (JSON as time, level, message; ANSI colours removed);
        the stack kept inside one JSON entry goes on the lines after it."""
        return text if args.raw else parse_line(text).display.replace(LINE_BREAK, "\n")

    if not args.follow:
        for path in sources:
            if many:
                print(f"==> {path} <==")
            try:
                for line in last_lines(path, count):
                    print(shown(line))
            except FileNotFoundError:
                print(f"(no such file yet: {path})", file=sys.stderr)
            except OSError as exc:
                print(f"(cannot read {path}: {exc.strerror or exc})", file=sys.stderr)
        return EXIT_OK
    # The last lines and what follows them come from one read position per file: nothing
    # written between the two is lost or printed twice.
    followers = [FileFollower(path, service.name, backlog=count) for path in sources]
    for follower in followers:
        if many:
            print(f"==> {follower.path} <==")
        items = follower.poll()
        while follower.behind:
            items += follower.poll()
        for item in items:
            if isinstance(item, LogLine):
                print(shown(item.text))
                continue
            if item.kind is NoticeKind.NOT_FOUND:
                print(f"(no such file yet: {follower.path})", file=sys.stderr)
            elif item.kind is NoticeKind.UNREADABLE:
                print(f"(cannot read {follower.path}: {item.message.removeprefix('cannot read log: ')})",
                      file=sys.stderr)  # fmt: skip
            print(f"[trayapp] {item.message}")
    sys.stdout.flush()
    lock = threading.Lock()

    def show(batch: list[LogItem]) -> None:
        with lock:
            for item in batch:
                prefix = f"{Path(item.path).name}: " if many else ""
                text = shown(item.text) if isinstance(item, LogLine) else f"[trayapp] {item.message}"
                print(prefix + text)
            sys.stdout.flush()

    tailer = LogTailer(show)
    for follower in followers:
        tailer.follow(follower)
    from trayapp.stop_signals import StopSignals

    with StopSignals() as stop:  # SIGTERM or Ctrl-C, whichever thread takes it (issue #8)
        tailer.start()
        try:
            stop.wait()
        finally:
            tailer.stop()
    return EXIT_OK


# -- init / doctor -----------------------------------------------------------------------


def _project_dir(text: str) -> Path:
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise Refused(f"trayapp: {text}: no such folder", EXIT_USAGE)
    return folder.resolve()


def cmd_init(args: argparse.Namespace) -> int:
    from trayapp.project.discover import discover
    from trayapp.project.init import InitError, render, write
    from trayapp.project.packagejson import is_project

    folder = _project_dir(args.dir)
    if not is_project(folder):
        print(
            f"trayapp: {folder} is not a JavaScript project (no package.json there or in server/, client/, "
            "frontend/, backend/, api/, web/, apps/*)",
            file=sys.stderr,
        )
        return EXIT_PROBLEM
    discovery = discover(folder)
    if args.print_only:
        sys.stdout.write(render(discovery))
        return EXIT_OK
    try:
        path = write(discovery, folder, force=args.force)
    except InitError as exc:
        print(f"trayapp: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    names = ", ".join(s.name for s in discovery.services) or "no service"
    from trayapp.desktop.entry import command_hint

    print(f"wrote {path} ({names}); `{command_hint()} status` there now uses it")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from trayapp.project.doctor import Severity, doctor, summary
    from trayapp.project.packagejson import is_project

    folder = _project_dir(args.dir)
    if not is_project(folder):
        raise Refused(
            f"trayapp: {folder} is not a JavaScript project (no package.json there or in its usual folders)",
            EXIT_USAGE,
        )
    findings = doctor(folder)
    errors = sum(f.severity is Severity.ERROR for f in findings)
    if args.json:
        print(_dumps({"root": str(folder), "errors": errors, "findings": [f.to_json() for f in findings]}, indent=2))
    else:
        for finding in findings:
            where = f"{finding.where}  " if finding.where else ""
            print(f"{finding.severity:<8} {where}{finding.message}")
            if finding.fix:
                print(f"{'':<8} fix: {finding.fix}")
        print(f"\n{summary(findings)} in {folder}" if findings else f"no findings in {folder}")
    return EXIT_PROBLEM if errors else EXIT_OK


# -- config ------------------------------------------------------------------------------

_WHY = {
    "option": "given with --config",
    "env": "named by $TRAYAPP_CONFIG",
    "here": "trayapp.toml in the current folder",
    "project_file": "the trayapp.toml at the root of the project you are in ({root})",
    "project": "no trayapp.toml here: discovered from the project you are in ({root})",
    "user": "your user config file (no trayapp.toml here, and not inside a project)",
    "default": "no config file anywhere trayapp looks, and not inside a project",
}


def cmd_config(args: argparse.Namespace) -> int:
    """Which config is in use and why; its services; the lookup order; where to put one."""
    from trayapp.config.load import CONFIG_NAME, ENV_CONFIG, user_config_path
    from trayapp.project.load import config_choice, fallback_choice, load_stack
    from trayapp.text import shorten_home

    choice = config_choice(args.config)
    root = shorten_home(str(choice.root)) if choice.root else ""
    try:
        config = load_stack(args.config)
    except ConfigError as exc:
        where = shorten_home(str(choice.path)) if choice.path else f"the project in {root}"
        print(f"config in use: {where}  ({_WHY[choice.step].format(root=root)})")
        print(f"trayapp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    why = _WHY[choice.step].format(root=root)
    if choice.step == "project" and not config.source.startswith("<discovered"):
        choice = fallback_choice()  # the project gave no service: load_stack went on
        why = f"the project in {root} has no service trayapp recognises, so: " + _WHY[choice.step].format(root="")
    shown = shorten_home(config.source) if config.path is not None else config.source
    print(f"config in use: {shown}")
    print(f"why: {why}")
    print("services:")
    width = max((len(s.name) for s in config.services), default=0)
    for service in config.services:
        print(f"  {service.name:<{width}}  {service.kind:<5}  {service.display_target}  ({service.source_text})")
    cwd = Path.cwd()
    user = user_config_path()
    print("\nlooked for, in this order (the first one found is used):")
    steps = [
        ("--config FILE", "given" if getattr(args, "config", None) else "not given"),
        (f"${ENV_CONFIG}", "set" if os.environ.get(ENV_CONFIG) else "not set"),
        (f"./{CONFIG_NAME}", shorten_home(str(cwd / CONFIG_NAME))),
        ("the project you are in", f"its root's {CONFIG_NAME}, else what its files say ({root or 'none here'})"),
        ("your user config file", shorten_home(str(user))),
        ("the built-in default", "backend :5000/api/health, frontend :5173, db mongodb://127.0.0.1:27017"),
    ]
    for number, (what, detail) in enumerate(steps, start=1):
        print(f"  {number}. {what:<24} {detail}")
    print("\nto write one:")
    print(f"  in a project folder: `trayapp init` writes ./{CONFIG_NAME} from what the project's files say")
    print(f"  for every folder:    put {CONFIG_NAME} at {shorten_home(str(user))}")
    return EXIT_OK


# -- desktop / autostart --------------------------------------------------------------------


def cmd_desktop(args: argparse.Namespace) -> int:
    from trayapp.desktop.autostart import AutostartError, autostart
    from trayapp.desktop.entry import install, launch_command, uninstall
    from trayapp.text import shorten_home

    try:
        if args.action == "install":
            done = install()
            print(f"wrote {shorten_home(str(done.entry))} (starts {format_cmdline(launch_command())})")
            folder = done.icons[0].parents[2]
            print(f"wrote {len(done.icons)} icons to {shorten_home(str(folder))}/*/apps/")
            return EXIT_OK
        removed = uninstall()
        start = autostart()
        was_on = start.is_enabled()
        start.disable()
    except (OSError, AutostartError) as exc:
        print(f"trayapp: {_os_sentence(exc)}", file=sys.stderr)
        return EXIT_PROBLEM
    if removed:
        entries = [shorten_home(str(p)) for p in removed if p.suffix == ".desktop"]
        icons = len(removed) - len(entries)
        print("removed " + ", ".join([*entries, f"{icons} icons"] if icons else entries))
    else:
        print("nothing to remove: the desktop entry and icons were not installed")
    if was_on:
        print(f"start at login is off now (removed {start.where})")
    return EXIT_OK


def cmd_autostart(args: argparse.Namespace) -> int:
    from trayapp.desktop.autostart import AutostartError, autostart

    start = autostart()
    try:
        if args.action == "on":
            start.enable()
        elif args.action == "off":
            start.disable()
    except AutostartError as exc:
        print(f"trayapp: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    on = start.is_enabled()
    print(f"start at login: {'on' if on else 'off'} ({start.where})")
    return EXIT_OK if on or args.action == "off" else EXIT_PROBLEM


def _os_sentence(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror or exc}"
    return str(exc)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": cmd_status,
    "watch": cmd_watch,
    "ports": cmd_ports,
    "kill": cmd_kill,
    "start": cmd_service_action,
    "stop": cmd_service_action,
    "restart": cmd_service_action,
    "logs": cmd_logs,
    "init": cmd_init,
    "doctor": cmd_doctor,
    "config": cmd_config,
    "desktop": cmd_desktop,
    "autostart": cmd_autostart,
}


def entry() -> None:
    """Console-script entry: run, flush, and leave without waiting on library threads.

    pymongo's monitor threads sleep in 0.5 s steps and are joined at interpreter exit,
    which would add up to half a second to every `trayapp status`; everything of ours is
    finished and flushed by now, so skip that join.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    logging.shutdown()
    os._exit(code)
