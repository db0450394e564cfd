"""Noticing edits of trayapp.toml and its env files: real files, saved the ways editors save them.

Each look at the files is taken by calling ``ConfigWatcher.look()`` on a manual clock, so the
debounce is driven by moving time, never by waiting; the tray's tests run the watcher's thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.kit.editors import save_like_vim, save_like_vscode
from tests.kit.services import service_toml
from trayapp.clock import ManualClock
from trayapp.config.load import load_config
from trayapp.config.watch import MISSING_SETTLE, SETTLE, ConfigChange, ConfigWatcher


def stack(interval: float = 2.0, *, extra: str = "") -> str:
    return service_toml("backend", "http", url="http://127.0.0.1:5000/api/health", interval=interval) + extra


class Rig:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = ManualClock()
        self.changes: list[ConfigChange] = []
        self.watcher = ConfigWatcher(self.changes.append, clock=self.clock)
        self.watcher.watch(load_config(path))
        self.watcher.look()  # the first look reads the files as they are: nothing has changed

    def settle(self) -> list[ConfigChange]:
        """Look (seeing what changed), let the files stay still for the settle time, look again."""
        self.watcher.look()
        self.clock.advance(SETTLE + 0.01)
        self.watcher.look()
        found, self.changes[:] = list(self.changes), []
        return found


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    path = tmp_path / "trayapp.toml"
    path.write_text(stack())
    return Rig(path)


def intervals(change: ConfigChange) -> list[float]:
    assert change.config is not None, change.error
    return [s.interval for s in change.config.services]


@pytest.mark.parametrize("save", [save_like_vim, save_like_vscode, Path.write_text], ids=["vim", "vscode", "in-place"])
def test_every_way_of_saving_is_seen_again_and_again(rig: Rig, save) -> None:
    # An inotify watch on the file is lost at the first rename; the name is what is watched here.
    for interval in (0.5, 1.5, 3.0):
        save(rig.path, stack(interval))
        [change] = rig.settle()
        assert intervals(change) == [interval]


def test_a_burst_of_writes_is_read_once_when_it_is_over(rig: Rig) -> None:
    rig.path.write_text("[[service]]\nname = ")  # an editor's first, partial write
    rig.watcher.look()
    rig.clock.advance(SETTLE / 2)
    save_like_vscode(rig.path, stack(0.5))  # still moving: the clock of stillness starts again
    rig.watcher.look()
    rig.clock.advance(SETTLE / 2)
    rig.watcher.look()
    assert rig.changes == []  # nothing read while the file keeps changing
    [change] = rig.settle()
    assert intervals(change) == [0.5]


def test_touching_the_file_or_saving_the_same_settings_changes_nothing(rig: Rig) -> None:
    os.utime(rig.path, ns=(1, 1))
    assert rig.settle() == []
    save_like_vim(rig.path, "# a comment only\n" + stack())
    assert rig.settle() == []


def test_a_save_made_by_trayapp_itself_is_not_a_change(rig: Rig) -> None:
    rig.path.write_text(stack(0.5))
    rig.watcher.watch(load_config(rig.path))  # what the Save button does after writing
    assert rig.settle() == []


def test_an_invalid_edit_is_reported_once_with_file_service_and_field_then_the_fix(rig: Rig) -> None:
    save_like_vim(rig.path, stack().replace("interval = 2.0", "interval = -1"))
    [change] = rig.settle()
    assert change.config is None and change.error is not None
    assert (change.error.source, change.error.service, change.error.field) == (str(rig.path), "backend", "interval")
    os.utime(rig.path, ns=(1, 1))
    save_like_vscode(rig.path, stack().replace("interval = 2.0", "interval = -1") + "# still broken\n")
    assert rig.settle() == []  # the same mistake is not reported again
    save_like_vscode(rig.path, stack().replace("interval = 2.0", "intervall = 1"))
    [other] = rig.settle()
    assert "did you mean 'interval'?" in str(other.error)
    save_like_vscode(rig.path, stack())
    [fixed] = rig.settle()  # usable again, even though it is as it was: the problem is over
    assert intervals(fixed) == [2.0] and fixed.error is None


def test_a_deleted_file_is_reported_and_its_return_is_read(rig: Rig) -> None:
    rig.path.unlink()
    assert rig.settle() == []  # missing for a moment is how a rename-save looks
    rig.clock.advance(MISSING_SETTLE)
    rig.watcher.look()
    [gone] = rig.changes
    assert gone.error is not None and str(gone.error) == f"{rig.path}: no such file"
    rig.changes.clear()
    rig.path.write_text(stack(4.0))
    [back] = rig.settle()
    assert intervals(back) == [4.0]


def test_a_symlink_pointed_at_another_file_is_a_change(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "home.toml").write_text(stack(2.0))
    (dotfiles / "work.toml").write_text(stack(7.0))
    link = tmp_path / "trayapp.toml"
    link.symlink_to(dotfiles / "home.toml")
    r = Rig(link)
    swap = tmp_path / "trayapp.toml.new"  # ln -sfn, atomically: a new link renamed over the old
    swap.symlink_to(dotfiles / "work.toml")
    os.replace(swap, link)
    [change] = r.settle()
    assert intervals(change) == [7.0]
    save_like_vim(dotfiles / "work.toml", stack(8.0))  # and the file it now leads to is watched
    [again] = r.settle()
    assert intervals(again) == [8.0]


def test_an_env_file_whose_content_changes_is_named(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PORT=5000\n")
    path = tmp_path / "trayapp.toml"
    path.write_text(stack(extra=f'start = "node server.js"\nenv_file = "{env.name}"\n'))
    r = Rig(path)
    os.utime(env, ns=(1, 1))
    assert r.settle() == []  # touched, not changed
    save_like_vim(env, "PORT=5001\n")
    [change] = r.settle()
    assert change.env_changed == (str(env),)
    assert change.config == load_config(path)  # the config itself is the same
