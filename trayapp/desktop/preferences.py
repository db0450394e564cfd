"""The user's own preferences for the app: which popups, how eager, do not disturb.

They belong to the person, not to a project, so they live apart from any ``trayapp.toml``: in
``preferences.toml`` in the user's config folder (:func:`trayapp.paths.preferences_file`;
``~/.config/trayapp/preferences.toml`` on Linux). The Settings window's General tab writes it;
a person may edit it too, and their comments and layout are kept (tomlkit). It is read when the
tray starts.

A file with a mistake never stops trayapp: :func:`load_preferences` returns the defaults for
what it could not use and one sentence per mistake, naming the file and the field. Start at
login is not here: the autostart entry itself is that setting (:mod:`trayapp.desktop.autostart`).

The file::

    [popups]
    problem = true       # a service goes down or stops working properly
    recovered = true     # a service is back
    flapping = true      # a service keeps going up and down, and when it has settled
    wait_s = 0           # seconds a change must last before its popup (0 to 3600)
    do_not_disturb = false

Qt-free; the GUI calls these on its settings queue, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AbstractTable

from trayapp.config.edit import _write_atomically  # the one config files are written with

#: the longest ``wait_s``: an hour
MAX_WAIT_S = 3600.0

HEADER = """\
# trayapp's preferences: yours, for every project (a project's services are in its trayapp.toml).
# The Settings window writes this file and keeps what you add here.
"""

#: what each field says, written as a comment above it in a new file
_COMMENTS = {
    "problem": "a popup when a service goes down or stops working properly",
    "recovered": "a popup when a service is back",
    "flapping": "a popup when a service keeps going up and down (and one when it has settled)",
    "wait_s": "seconds a change must last before its popup: one undone sooner makes none (0 to 3600)",
    "do_not_disturb": "no popups at all; the icon still shows every change",
}


class PreferencesError(Exception):
    """The preferences could not be written; the message names the file and says why."""


@dataclass(frozen=True)
class Preferences:
    """What the user chose. The defaults are trayapp's behaviour before there were preferences."""

    problem: bool = True  # popups.problem
    recovered: bool = True  # popups.recovered
    flapping: bool = True  # popups.flapping
    wait_s: float = 0.0  # popups.wait_s: seconds, 0 to MAX_WAIT_S
    do_not_disturb: bool = False  # popups.do_not_disturb

    def muted_kinds(self) -> frozenset[str]:
        """The kinds of :class:`trayapp.monitor.notifier.Announcement` to show no popup for."""
        muted: set[str] = set()
        if not self.problem:
            muted.add("problem")
        if not self.recovered:
            muted.add("recovered")
        if not self.flapping:
            muted |= {"flapping", "settled"}
        return frozenset(muted)


DEFAULTS = Preferences()
_FIELDS = tuple(f.name for f in fields(Preferences))


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_preferences` found: the preferences to use and the mistakes it passed over."""

    preferences: Preferences
    problems: tuple[str, ...] = ()  # one sentence per mistake, each naming the file and the field


def load_preferences(path: Path) -> Loaded:
    """Read ``path``; no file means the defaults. Never raises.

    A file that is not TOML (or cannot be read) gives the defaults and one sentence; a field with
    a wrong value gives that field's default and a sentence naming it; an unknown key is
    ignored with a sentence, so a typo does not pass unnoticed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Loaded(DEFAULTS)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Loaded(DEFAULTS, (f"{path} could not be read ({reason}); trayapp uses the default preferences.",))
    try:
        document = tomlkit.parse(text).unwrap()
    except TOMLKitError as exc:
        return Loaded(
            DEFAULTS, (f"{path} is not valid TOML ({exc}); trayapp uses the default preferences until it is fixed.",)
        )
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key in document:
        if key != "popups":
            problems.append(f"{path}: unknown setting {key!r} is ignored (the settings are under [popups]).")
    popups = document.get("popups", {})
    if not isinstance(popups, dict):
        problems.append(f"{path}: popups must be a table ([popups]), not {popups!r}; trayapp uses the defaults.")
        popups = {}
    for key, value in popups.items():
        if key not in _FIELDS:
            known = ", ".join(_FIELDS)
            problems.append(f"{path}: unknown setting popups.{key} is ignored (the settings are {known}).")
            continue
        default = getattr(DEFAULTS, key)
        if isinstance(default, bool):
            if isinstance(value, bool):
                values[key] = value
            else:
                problems.append(
                    f"{path}: popups.{key} must be true or false, not {value!r}; "
                    f"trayapp uses the default ({str(default).lower()})."
                )
        elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_WAIT_S:
            problems.append(
                f"{path}: popups.{key} must be a number of seconds from 0 to {MAX_WAIT_S:g}, not {value!r}; "
                f"trayapp uses the default ({default:g})."
            )
        else:
            values[key] = float(value)
    return Loaded(replace(DEFAULTS, **values), tuple(problems))


def save_preferences(path: Path, preferences: Preferences) -> None:
    """Write ``preferences`` to ``path``, keeping the comments, layout and other keys already there.

    A new file gets a header and a comment per field. Written atomically (a temporary file in the
    same folder, then renamed over it; through a symlink, to the file it leads to). A file that is
    not TOML is not overwritten: that would lose what the user wrote. Raises
    :class:`PreferencesError`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        raise PreferencesError(f"{path} could not be read, so it was not changed: {exc}") from None
    if text is None:
        document = tomlkit.parse(HEADER)
    else:
        try:
            document = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise PreferencesError(
                f"{path} is not valid TOML ({exc}), so trayapp did not write over it: fix it or remove it"
            ) from None
    popups = document.get("popups")
    if not isinstance(popups, AbstractTable):  # [popups], or popups = {…}
        if "popups" in document:
            del document["popups"]
        popups = tomlkit.table()
        document.add(tomlkit.nl())
        document["popups"] = popups
    for key in _FIELDS:
        value = getattr(preferences, key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # "wait_s = 30", as a person would write it
        if key in popups:
            popups[key] = value
        else:
            if text is None:
                popups.add(tomlkit.comment(_COMMENTS[key]))
            popups.add(key, value)
    try:
        _write_atomically(path, tomlkit.dumps(document))
    except OSError as exc:
        raise PreferencesError(f"{path} could not be written: {exc.strerror or exc}") from None
