"""Install and live with it (issue #11, item 1): the desktop entry and icons in the user's XDG
folders, start at login on each platform, the tray menu's switch, the app icon.

The XDG files are checked with Debian's desktop-file-validate. macOS and Windows cannot run
here: their LaunchAgent plist and Run key value are checked through their builders (the plist
is also written to a temporary home, which is only a file)."""

from __future__ import annotations

import plistlib
import shlex
import struct
import subprocess
from pathlib import Path

import pytest

from tests.kit.cli import REPO, cli_env, run_cli, trayapp_command
from trayapp.desktop.autostart import (
    LABEL,
    LaunchAgent,
    NoAutostart,
    XdgAutostart,
    autostart,
    launch_agent_plist,
    run_key_value,
)
from trayapp.desktop.entry import PNG_SIZES, desktop_entry, exec_value


def validate(path: Path) -> str:
    """desktop-file-validate's complaints about ``path`` ("" when it has none)."""
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, timeout=30)
    return (result.stdout + result.stderr).strip() + ("" if result.returncode == 0 else f" (exit {result.returncode})")


def entry_keys(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_desktop_install_writes_a_valid_entry_and_every_icon_it_names(tmp_path) -> None:
    data = tmp_path / ".local" / "share"  # XDG_DATA_HOME unset: the spec's default under HOME
    result = run_cli("desktop", "install", home=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = data / "applications" / "trayapp.desktop"
    assert result.stdout.startswith("wrote ~/.local/share/applications/trayapp.desktop (starts ")
    assert validate(entry) == ""
    keys = entry_keys(entry)
    command = shlex.split(keys["Exec"])
    assert Path(command[0]).is_file() and command[-1].endswith("trayapp"), command  # no PATH needed
    hicolor = data / "icons" / "hicolor"
    for size in PNG_SIZES:
        assert png_size(hicolor / f"{size}x{size}" / "apps" / f"{keys['Icon']}.png") == (size, size)
    assert (hicolor / "scalable" / "apps" / f"{keys['Icon']}.svg").read_text().startswith("<svg")

    gone = run_cli("desktop", "uninstall", home=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == f"removed ~/.local/share/applications/trayapp.desktop, {len(PNG_SIZES) + 1} icons\n"
    assert [p for p in data.rglob("*") if p.is_file()] == []
    again = run_cli("desktop", "uninstall", home=tmp_path)
    assert again.stdout.startswith("nothing to remove")


def test_desktop_install_honours_xdg_data_home(tmp_path) -> None:
    env = {**cli_env(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run(
        trayapp_command("desktop", "install"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "applications" / "trayapp.desktop").is_file()
    assert (tmp_path / "data" / "icons" / "hicolor" / "48x48" / "apps" / "trayapp.png").is_file()
    assert not (tmp_path / ".local" / "share").exists()


def test_the_packaged_desktop_file_is_the_entry_trayapp_writes_and_is_valid() -> None:
    packaged = REPO / "packaging" / "trayapp.desktop"
    assert packaged.read_text() == desktop_entry(["trayapp"])
    assert validate(packaged) == ""
    icon = entry_keys(packaged)["Icon"]
    assert (REPO / "resources" / "icons" / "app" / f"{icon}.svg").is_file()  # what `desktop install` installs


def test_exec_values_are_quoted_as_the_desktop_entry_spec_says() -> None:
    assert exec_value(["/usr/bin/trayapp"]) == "/usr/bin/trayapp"
    assert exec_value(["/home/a b/.venv/bin/trayapp", "--config", "50%.toml"]) == (
        '"/home/a b/.venv/bin/trayapp" --config 50%%.toml'
    )
    # a quote inside a quoted argument is \" and the string escape doubles the backslash
    assert exec_value(['say "hi"']) == '"say \\\\"hi\\\\""'


def test_start_at_login_on_and_off_through_the_cli_writes_a_valid_xdg_autostart_entry(tmp_path) -> None:
    entry = tmp_path / ".config" / "autostart" / "trayapp.desktop"
    off = run_cli("autostart", home=tmp_path)
    assert (off.returncode, off.stdout) == (1, "start at login: off (~/.config/autostart/trayapp.desktop)\n")
    on = run_cli("autostart", "on", home=tmp_path)
    assert (on.returncode, on.stdout) == (0, "start at login: on (~/.config/autostart/trayapp.desktop)\n")
    assert validate(entry) == ""
    keys = entry_keys(entry)
    assert (keys["Hidden"], keys["X-GNOME-Autostart-enabled"], keys["Icon"]) == ("false", "true", "trayapp")
    assert Path(shlex.split(keys["Exec"])[0]).is_file()
    assert run_cli("autostart", home=tmp_path).returncode == 0
    off = run_cli("autostart", "off", home=tmp_path)
    assert (off.returncode, entry.exists()) == (0, False)


def test_the_macos_launch_agent_runs_the_tray_at_login(tmp_path) -> None:
    command = ["/Applications/trayapp.app/Contents/MacOS/trayapp"]
    agent = plistlib.loads(launch_agent_plist(command))
    assert agent == {
        "Label": LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    switch = LaunchAgent(command, home=tmp_path)
    assert not switch.is_enabled()
    switch.enable()
    path = tmp_path / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert plistlib.loads(path.read_bytes()) == agent
    assert switch.is_enabled() and switch.where == str(path)
    switch.disable()
    assert not path.exists() and not switch.is_enabled()


def test_the_windows_run_key_value_is_one_command_line() -> None:
    assert run_key_value([r"C:\Program Files\trayapp\trayapp.exe"]) == r'"C:\Program Files\trayapp\trayapp.exe"'
    assert run_key_value([r"C:\Users\a\pipx\venvs\trayapp\Scripts\pythonw.exe", "-m", "trayapp"]) == (
        r"C:\Users\a\pipx\venvs\trayapp\Scripts\pythonw.exe -m trayapp"
    )


def test_each_platform_gets_its_way_and_others_a_fallback_that_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    linux = autostart(["trayapp"], platform="linux")
    assert isinstance(linux, XdgAutostart) and linux.path == tmp_path / "cfg" / "autostart" / "trayapp.desktop"
    assert isinstance(autostart(["trayapp"], platform="darwin"), LaunchAgent)
    assert isinstance(autostart(["trayapp"], platform="win32"), NoAutostart)  # no winreg on this machine
    other = autostart(["trayapp"], platform="haiku")
    assert isinstance(other, NoAutostart) and not other.supported and not other.is_enabled()
    with pytest.raises(Exception, match="start at login is not available on"):
        other.enable()


# -- the tray menu ----------------------------------------------------------------------------


def test_the_tray_menu_switches_start_at_login(qtbot, tmp_path) -> None:
    from trayapp.ui.autostart import AutostartSwitch
    from trayapp.ui.tray import Tray

    backend = XdgAutostart(["/opt/trayapp/trayapp"], config_home=tmp_path)
    switch = AutostartSwitch(backend)
    tray = Tray(lambda: [], autostart=switch)
    qtbot.waitUntil(lambda: switch.enabled is False)

    def menu_item():
        tray.menu.aboutToShow.emit()  # what opening the menu does
        return next(a for a in tray.menu.actions() if a.text() == "Start at &login")

    item = menu_item()
    assert item.isCheckable() and item.isEnabled() and not item.isChecked()
    with qtbot.waitSignal(switch.changed, timeout=5000) as changed:
        item.trigger()
    assert changed.args == [True]
    assert entry_keys(tmp_path / "autostart" / "trayapp.desktop")["Exec"] == "/opt/trayapp/trayapp"
    assert menu_item().isChecked()
    with qtbot.waitSignal(switch.changed, timeout=5000) as changed:
        menu_item().trigger()
    assert changed.args == [False] and not (tmp_path / "autostart" / "trayapp.desktop").exists()
    assert not menu_item().isChecked()


def test_a_failed_switch_says_why_and_shows_the_real_state(qtbot, tmp_path) -> None:
    from trayapp.ui.autostart import AutostartSwitch

    blocker = tmp_path / "autostart"
    blocker.write_text("a file where the folder should be")
    switch = AutostartSwitch(XdgAutostart(["trayapp"], config_home=tmp_path))
    qtbot.waitUntil(lambda: switch.enabled is False)
    with qtbot.waitSignal(switch.failed, timeout=5000) as failed:
        switch.set_enabled(True)
    assert str(failed.args[0]).startswith(f"cannot write {blocker}/trayapp.desktop: ")
    qtbot.waitUntil(lambda: switch.enabled is False)


def test_the_app_icon_loads_from_package_data_at_every_size(qtbot) -> None:
    from trayapp.ui.icons import app_icon

    icon = app_icon()
    assert not icon.isNull()
    sizes = {(s.width(), s.height()) for s in icon.availableSizes()}
    assert {(n, n) for n in PNG_SIZES} <= sizes


@pytest.mark.parametrize("on_path", [False, True], ids=["not_on_path", "on_path"])
def test_the_no_display_message_names_a_command_that_works_here(tmp_path, on_path) -> None:
    import re
    import sys

    bin_dir = Path(sys.executable).parent  # the venv's bin, with its trayapp script
    env = {k: v for k, v in cli_env(tmp_path).items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PATH"] = (f"{bin_dir}:" if on_path else "") + "/usr/bin:/bin"
    result = subprocess.run(trayapp_command(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    commands = re.findall(r"`([^`]+) status`", result.stderr)
    assert len(commands) == 1, result.stderr
    if on_path:
        assert commands == ["trayapp"]
    else:
        assert commands == [str(bin_dir / "trayapp")]
        run = subprocess.run([*shlex.split(commands[0]), "--version"], env=env, capture_output=True, timeout=30)
        assert run.returncode == 0 and run.stdout.startswith(b"trayapp ")
