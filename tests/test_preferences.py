"""The user's preferences file (Qt-free): defaults, a sentence per mistake, comments kept on save."""

from __future__ import annotations

from pathlib import Path

import pytest

from trayapp.desktop.preferences import (
    DEFAULTS,
    Preferences,
    PreferencesError,
    load_preferences,
    save_preferences,
)


def test_no_file_means_the_defaults_which_popup_everything(tmp_path: Path) -> None:
    loaded = load_preferences(tmp_path / "preferences.toml")
    assert loaded.preferences == DEFAULTS and loaded.problems == ()
    assert DEFAULTS.muted_kinds() == frozenset() and DEFAULTS.wait_s == 0 and not DEFAULTS.do_not_disturb


def test_a_first_save_writes_a_commented_file_that_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "trayapp" / "preferences.toml"  # the folder does not exist yet
    chosen = Preferences(recovered=False, wait_s=30.0, do_not_disturb=True)
    save_preferences(path, chosen)
    text = path.read_text()
    assert text.startswith("# trayapp's preferences")
    assert "# a popup when a service is back\nrecovered = false\n" in text
    assert "wait_s = 30\n" in text  # a whole number, as a person writes it
    assert load_preferences(path).preferences == chosen
    assert chosen.muted_kinds() == {"recovered"}


def test_a_save_keeps_the_users_comments_layout_and_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    path.write_text(
        "# mine: keep quiet at night\n[popups]\nflapping = false  # too chatty on my laptop\n\nrecovered = true\n"
    )
    save_preferences(path, Preferences(flapping=False, recovered=False))
    text = path.read_text()
    assert text.startswith("# mine: keep quiet at night\n[popups]\nflapping = false  # too chatty on my laptop\n")
    assert "recovered = false" in text and "problem = true" in text and "do_not_disturb = false" in text
    assert load_preferences(path).preferences == Preferences(flapping=False, recovered=False)


def test_a_save_through_a_symlink_writes_the_file_it_leads_to(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "preferences.toml"
    real.parent.mkdir()
    real.write_text("# from my dotfiles\n")
    link = tmp_path / "preferences.toml"
    link.symlink_to(real)
    save_preferences(link, Preferences(problem=False))
    assert link.is_symlink()
    assert real.read_text().startswith("# from my dotfiles\n") and "problem = false" in real.read_text()


def test_a_file_that_is_not_toml_gives_the_defaults_a_sentence_and_is_never_written_over(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    path.write_text("[popups]\nrecovered = nope\n")
    loaded = load_preferences(path)
    assert loaded.preferences == DEFAULTS
    [sentence] = loaded.problems
    assert sentence.startswith(f"{path} is not valid TOML (") and "line 2" in sentence
    assert sentence.endswith("trayapp uses the default preferences until it is fixed.")
    with pytest.raises(PreferencesError, match="did not write over it: fix it or remove it"):
        save_preferences(path, Preferences(recovered=False))
    assert path.read_text() == "[popups]\nrecovered = nope\n"


def test_a_wrong_value_names_the_file_and_field_and_only_that_field_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    path.write_text('[popups]\nrecovered = "no"\nproblem = false\nwait_s = -5\nflaping = false\n')
    loaded = load_preferences(path)
    assert loaded.preferences == Preferences(problem=False)  # the good field is used, the bad ones defaulted
    assert loaded.problems == (
        f"{path}: popups.recovered must be true or false, not 'no'; trayapp uses the default (true).",
        f"{path}: popups.wait_s must be a number of seconds from 0 to 3600, not -5; trayapp uses the default (0).",
        f"{path}: unknown setting popups.flaping is ignored "
        "(the settings are problem, recovered, flapping, wait_s, do_not_disturb).",
    )


def test_popups_that_is_not_a_table_and_an_unreadable_file_give_the_defaults_and_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    path.write_text("popups = true\n")
    loaded = load_preferences(path)
    assert loaded.preferences == DEFAULTS
    assert loaded.problems == (f"{path}: popups must be a table ([popups]), not True; trayapp uses the defaults.",)
    folder = tmp_path / "a-folder.toml"  # unreadable as a file, for root too
    folder.mkdir()
    [sentence] = load_preferences(folder).problems
    assert sentence == f"{folder} could not be read (Is a directory); trayapp uses the default preferences."


def test_flapping_off_mutes_its_settled_news_too() -> None:
    assert Preferences(flapping=False, problem=False).muted_kinds() == {"flapping", "settled", "problem"}
