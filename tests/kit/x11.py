"""A virtual X desktop with a real system tray (Xvfb + trayer) and ways to look at its windows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.kit.wait import wait_until

TOOLS = ("Xvfb", "trayer", "xdotool", "xwininfo", "xprop", "import")


@dataclass
class Desktop:
    display: str

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def _run(self, *args: str) -> str:
        out = subprocess.run(
            args, env={**os.environ, "DISPLAY": self.display}, capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def windows(self, wm_class: str, visible: bool = True) -> list[int]:
        args = ["xdotool", "search"] + (["--onlyvisible"] if visible else []) + ["--class", wm_class]
        return [int(w) for w in self._run(*args).split()]

    def prop(self, window: int, name: str) -> str:
        return self._run("xprop", "-id", str(window), name)

    def geometry(self, window: int) -> tuple[int, int]:
        info = self._run("xwininfo", "-id", str(window))
        width = re.search(r"Width: (\d+)", info)
        height = re.search(r"Height: (\d+)", info)
        return (int(width.group(1)), int(height.group(1))) if width and height else (0, 0)

    def ancestor_names(self, window: int) -> list[str]:
        """Names of the window's parents up to the root (an embedded tray icon sits under trayer's "panel")."""
        names = []
        current = window
        for _ in range(10):
            tree = self._run("xwininfo", "-id", str(current), "-tree")
            match = re.search(r'Parent window id: (0x[0-9a-f]+)(?: "([^"]*)")?', tree)
            if not match or "(the root window)" in tree.split("Parent window id:")[1].splitlines()[0]:
                break
            current = int(match.group(1), 16)
            names.append(match.group(2) or "")
        return names

    def colour(self, window: int) -> str:
        """The state colour family of a window's pixels: "red", "green", "amber" or "none".

        The tray icon is trayapp's violet mark with a state badge in one corner: the badge's
        colour is the one of these families that covers a twentieth of the window or more."""
        png = subprocess.run(
            ["import", "-window", str(window), "png:-"],
            env={**os.environ, "DISPLAY": self.display},
            capture_output=True,
            timeout=10,
        ).stdout
        from PySide6.QtGui import QImage

        image = QImage.fromData(png, "PNG")
        counts = {"red": 0, "green": 0, "amber": 0}
        for y in range(image.height()):
            for x in range(image.width()):
                c = image.pixelColor(x, y)
                r, g, b = c.red(), c.green(), c.blue()
                if r > 150 and g < 110 and b < 110:
                    counts["red"] += 1
                elif g > 120 and r < 100:
                    counts["green"] += 1
                elif r > 180 and 120 < g < 200 and b < 80:
                    counts["amber"] += 1
        best = max(counts, key=lambda k: counts[k])
        return best if counts[best] > image.width() * image.height() // 20 else "none"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@contextmanager
def x_desktop(with_tray: bool = True) -> Iterator[Desktop]:
    """Xvfb on a free display, with trayer as the system tray host unless ``with_tray`` is False."""
    read, write = os.pipe()
    # -noreset: by default an X server resets when its last client disconnects, and drops a
    # client that connects meanwhile ("cannot open display"); the short-lived xdotool and
    # xprop clients below disconnect all the time, so without it trayer or the app under
    # test failed to connect in about 1 start of 20 (issue #8).
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x600x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    procs = [xvfb]
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # Xvfb writes the display number once it accepts clients
        assert number, "Xvfb did not start"
        desktop = Desktop(f":{number}")
        if with_tray:
            errors = tempfile.TemporaryFile()
            tray_args = "--edge top --align right --widthtype request --height 24 --transparent false".split()
            trayer = subprocess.Popen(
                ["trayer", *tray_args],
                env={**os.environ, "DISPLAY": desktop.display},
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            procs.append(trayer)
            try:
                wait_until(
                    lambda: desktop.windows("trayer") or trayer.poll() is not None, timeout=20, what="trayer's panel"
                )
                assert trayer.poll() is None
            except AssertionError:
                errors.seek(0)
                raise AssertionError(f"trayer did not start on {desktop.display}: {errors.read()!r}") from None
        yield desktop
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()
