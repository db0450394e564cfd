"""Take the README's pictures from the real app, on a virtual X screen with a real tray and dunst.

Run it through the desktop-shot tool, which provides the screen, a session bus, trayer and dunst:

    /work/shared/tools/desktop-shot -s 120 -- .venv/bin/python scripts/screenshots.py docs

It starts real test servers (tests/kit/backend.py), writes a config for them, starts the tray
app (a second ``trayapp`` asks it to show its window) and grabs windows with ImageMagick's
``import -window``: the window in light, the window in dark (a desktop that prefers dark: a
small ``org.freedesktop.portal.Settings`` on the session bus says ``color-scheme = 1``, as GNOME
and KDE do, and Qt follows it), the popup dunst shows, and the tray icon in each state at 1x and
2x (drawn by trayapp.ui.icons, the tray's own code). Every wait is on a condition, bounded.

``--settings`` takes only the Settings window, opened as a person does: a right click on the tray
icon, then "Settings…" (its mnemonic, S). Its General tab is docs/settings.png; its Services tab,
with vite's form open and a port out of range shown beside its field, is docs/settings-services.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.kit.servers import free_port  # noqa: E402

BACKEND = REPO / "tests" / "kit" / "backend.py"
PY = sys.executable
#: Tab presses from the Services list to a tcp service's Port: Add…, Edit…, Duplicate, Remove…,
#: Add project folder…, the form's scroll area, Name, Kind, Host, Port
TABS_TO_PORT = 10


def wait_for(what: str, probe, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.1)
    raise SystemExit(f"screenshots: gave up waiting for {what}")


def window_id(name: str) -> str | None:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], capture_output=True, text=True)
    ids = found.stdout.split()
    return ids[-1] if ids else None


def grab(wid: str, out: Path) -> None:
    subprocess.run(["import", "-window", wid, "-strip", str(out)], check=True)
    subprocess.run(["mogrify", "-strip", "-define", "png:compression-level=9", str(out)], check=False)
    print(out)


def dark_portal(stop: threading.Event) -> None:
    """org.freedesktop.portal.Settings saying the desktop prefers dark (color-scheme 1)."""
    from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    conn = open_dbus_connection(bus="SESSION")
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.portal.Desktop"))
    del DBusAddress
    scheme = {"color-scheme": ("u", 1)}
    while not stop.is_set():
        try:
            msg = conn.receive(timeout=0.5)
        except TimeoutError:
            continue
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "ReadAll":
            conn.send(new_method_return(msg, "a{sa{sv}}", ({"org.freedesktop.appearance": scheme},)))
        elif member in ("Read", "ReadOne") and msg.body[:2] == ("org.freedesktop.appearance", "color-scheme"):
            value = ("v", ("u", 1)) if member == "Read" else ("u", 1)
            conn.send(new_method_return(msg, "v", (value,)))
        elif member == "Get" or member == "version":
            conn.send(new_method_return(msg, "v", (("u", 2),)))
        else:
            from jeepney import new_error

            conn.send(new_error(msg, "org.freedesktop.portal.Error.NotFound", "s", ("no such setting",)))
    conn.close()


def icons(out: Path) -> None:
    """Each state's tray icon at 1x (16 px) and 2x (32 px), labelled, from trayapp.ui.icons."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter
    from PySide6.QtWidgets import QApplication

    from trayapp.model import State
    from trayapp.ui.icons import state_icon

    _app = QApplication.instance() or QApplication([])
    states = [(State.UP, False), (State.DEGRADED, False), (State.DOWN, False), (State.UNKNOWN, False), (State.UP, True)]
    cell, rows = 96, (("1x", 16), ("2x", 32))
    image = QImage(40 + cell * len(states), 24 + 48 * len(rows) + 8, QImage.Format.Format_ARGB32)
    for background, name in ((QColor("#f3f3f3"), "light"), (QColor("#2b2b2b"), "dark")):
        image.fill(background)
        painter = QPainter(image)
        painter.setPen(QColor("#111111") if name == "light" else QColor("#eeeeee"))
        font = QFont()
        font.setPixelSize(12)
        painter.setFont(font)
        for column, (state, paused) in enumerate(states):
            x = 40 + column * cell
            label = "paused" if paused else str(state)
            painter.drawText(QRect(x, 2, cell, 20), Qt.AlignmentFlag.AlignCenter, label)
            for row, (tag, size) in enumerate(rows):
                y = 24 + row * 48
                painter.drawText(QRect(0, y, 36, 40), Qt.AlignmentFlag.AlignCenter, tag)
                pixmap = state_icon(state, paused).pixmap(size, size)
                painter.drawPixmap(x + (cell - size) // 2, y + (40 - size) // 2, pixmap)
        painter.end()
        path = out / f"tray-icons-{name}.png"
        image.save(str(path))
        print(path)


def tray_icon_id() -> str | None:
    """The tray icon: trayapp's small window embedded in trayer's panel."""
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "trayapp"], capture_output=True, text=True)
    for wid in found.stdout.split():
        info = subprocess.run(["xwininfo", "-id", wid], capture_output=True, text=True).stdout
        if "Width: " in info and int(info.split("Width: ")[1].split()[0]) <= 48:
            return wid
    return None


def settings(out: Path, tmp: Path, env: dict[str, str], app_argv: list[str]) -> None:
    """The Settings window at its General tab, opened from the tray icon's menu."""
    tray = subprocess.Popen(app_argv, env=env, cwd=tmp)
    try:
        icon = wait_for("the tray icon", tray_icon_id)
        time.sleep(3)  # the first checks: the menu and the icon show the services' states (a script, not a test)
        subprocess.run(["xdotool", "mousemove", "--window", icon, "6", "6", "click", "3"], check=True)
        time.sleep(1)
        subprocess.run(["xdotool", "key", "s"], check=True)  # &Settings…
        wid = wait_for("the Settings window", lambda: window_id("^trayapp Settings$"))
        time.sleep(1)  # the start-at-login state is read off the GUI thread
        grab(wid, out / "settings.png")
        services_tab(wid, out)
    finally:
        tray.terminate()
        tray.wait(timeout=10)


def services_tab(wid: str, out: Path) -> None:
    """The Services tab with vite's form open and a port out of range beside its field, from the
    keyboard: Ctrl+Tab to the tab, Tab into the list, "vite" (its keyboard search), Alt+E (Edit…),
    Tab to Port, 70000, Alt+S (Save)."""

    def keys(*args: str) -> None:
        subprocess.run(["xdotool", *args], check=True)
        time.sleep(0.5)  # the app takes the keys in (a script, not a test)

    keys("windowfocus", "--sync", wid)
    keys("key", "ctrl+Tab", "Tab")  # the Services tab, and into its list
    keys("type", "vite")
    keys("key", "alt+e")  # the service's table is read off the GUI thread
    keys("key", *["Tab"] * TABS_TO_PORT)
    keys("type", "70000")
    keys("key", "alt+s")  # validated on the settings queue: the mistake shows beside Port
    grab(wid, out / "settings-services.png")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0]).resolve() if args else REPO / "docs"
    out.mkdir(parents=True, exist_ok=True)
    if "--icons" in sys.argv:
        icons(out)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="trayapp-shots-"))
    servers = []
    ports = {name: free_port() for name in ("api", "web", "docs")}
    for name, mode in (("api", "db_down_503"), ("web", "healthy"), ("docs", "not_found")):
        argv = [PY, str(BACKEND), "--mode", mode, "--port", str(ports[name])]
        # in the config's folder, as a project's own servers run: not a stranger's (a stale holder)
        servers.append(subprocess.Popen(argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    vite = free_port()
    config = tmp / "trayapp.toml"
    config.write_text(
        '[[service]]\nname = "api"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{ports["api"]}/api/health"\ninterval = 1\n\n'
        '[[service]]\nname = "web"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{ports["web"]}/api/health"\ninterval = 1\n\n'
        '[[service]]\nname = "docs"\nkind = "http"\n'
        f'url = "http://127.0.0.1:{ports["docs"]}/healthz"\ninterval = 1\n\n'
        '[[service]]\nname = "vite"\nkind = "tcp"\n'
        f'host = "127.0.0.1"\nport = {vite}\ninterval = 1\n'
    )
    env = dict(
        os.environ,
        HOME=str(tmp),
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_CONFIG_HOME=str(tmp / ".config"),
        XDG_RUNTIME_DIR=str(tmp / "run"),
    )
    (tmp / "run").mkdir(mode=0o700)
    env.pop("QT_QPA_PLATFORMTHEME", None)
    app_argv = [PY, "-m", "trayapp", "--config", str(config)]
    stop = threading.Event()
    if "--settings" in sys.argv:
        try:
            settings(out, tmp, env, app_argv)
        finally:
            for server in servers:
                server.terminate()
        return 0
    try:
        for look in ("light", "dark"):
            portal = None
            if look == "dark":
                portal = threading.Thread(target=dark_portal, args=(stop,), daemon=True)
                portal.start()
                time.sleep(0.5)  # the name is taken before the app starts (not a test: a script)
            # the portal-backed platform theme reads the desktop's colour scheme from the portal
            look_env = dict(env, QT_QPA_PLATFORMTHEME="xdgdesktopportal") if look == "dark" else env
            tray = subprocess.Popen(app_argv, env=look_env, cwd=tmp)
            sock = tmp / "run" / "trayapp" / "trayapp.sock"
            started = tray
            wait_for("the tray's control socket", lambda: sock.exists() or started.poll() is not None, 20)  # noqa: B023
            subprocess.run(app_argv, env=look_env, cwd=tmp, capture_output=True, timeout=20)  # shows the window
            wid = wait_for("the window", lambda: window_id("^trayapp$"))
            time.sleep(8)  # two failed checks confirm the outages (down_after = 2) and the history grows
            if look == "light":
                popup = subprocess.run(["xdotool", "search", "--class", "Dunst"], capture_output=True, text=True)
                if popup.stdout.split():
                    grab(popup.stdout.split()[-1], out / "popup.png")
            subprocess.run(["dunstctl", "close-all"], check=False)  # the popup sits over the window's corner
            time.sleep(0.5)
            grab(wid, out / f"window-{look}.png")
            tray.terminate()
            tray.wait(timeout=10)
            stop.set()
            if portal is not None:
                portal.join(timeout=2)
            stop.clear()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
