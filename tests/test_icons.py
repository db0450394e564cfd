"""How trayapp looks: state colours people can read, a tray icon that is trayapp's and tells its states apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication

from trayapp.model import State
from trayapp.ui.icons import (
    APP,
    ICON_NAMES,
    PAUSED,
    SIZES,
    STATE_COLOURS,
    app_icon,
    icon_bytes,
    icon_path,
    icon_png,
    render_svg,
    state_colour,
    state_icon,
    tray_icon,
)
from trayapp.ui.tray import Tray

#: Base colours of light windows: plain white, Fusion's and Adwaita's window greys.
LIGHT_BASES = ("#ffffff", "#efefef", "#f6f5f4", "#f7f7f7")
#: Base colours of dark windows: Adwaita dark, Fusion dark's base and window, Breeze dark, JetBrains' Darcula.
DARK_BASES = ("#1e1e1e", "#242424", "#2d2d2d", "#353535", "#232629", "#3c3f41")
AA = 4.5  # WCAG 2.x level AA, normal text

MARK = QColor("#1e293b")  # the slate of the app mark, resources/icons/app/trayapp.svg


def luminance(colour: QColor) -> float:
    """Relative luminance, WCAG 2.x: linearised sRGB channels weighted 0.2126 R, 0.7152 G, 0.0722 B."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def image(icon, size: int = 16) -> QImage:
    return icon.pixmap(QSize(size, size)).toImage().convertToFormat(QImage.Format.Format_ARGB32)


def opaque(img: QImage) -> list[QColor]:
    colours = (img.pixelColor(x, y) for y in range(img.height()) for x in range(img.width()))
    return [c for c in colours if c.alpha() > 200]


def differing_pixels(a: QImage, b: QImage) -> int:
    """Pixels whose colour (alpha included) differs by more than a quarter of the scale in some channel."""
    count = 0
    for y in range(a.height()):
        for x in range(a.width()):
            p, q = a.pixelColor(x, y), b.pixelColor(x, y)
            if max(abs(p.red() - q.red()), abs(p.green() - q.green()), abs(p.blue() - q.blue()),
                   abs(p.alpha() - q.alpha())) > 64:  # fmt: skip
                count += 1
    return count


@pytest.fixture
def palette(qapp) -> Iterator[QApplication]:
    """The application, its palette restored after the test."""
    saved = QPalette(qapp.palette())
    yield qapp
    qapp.setPalette(saved)


def dark_palette() -> QPalette:
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#353535"),
        (QPalette.ColorRole.Base, "#2d2d2d"),
        (QPalette.ColorRole.WindowText, "#ffffff"),
        (QPalette.ColorRole.Text, "#ffffff"),
        (QPalette.ColorRole.Button, "#353535"),
    ):
        pal.setColor(role, QColor(colour))
    return pal


# -- colours ---------------------------------------------------------------------------------


@pytest.mark.parametrize("base", LIGHT_BASES + DARK_BASES)
def test_every_state_colour_reads_at_aa_contrast_on_light_and_dark_bases(qapp, base: str) -> None:
    bg = QColor(base)
    ratios = {str(state): round(contrast(state_colour(state, bg), bg), 2) for state in STATE_COLOURS}
    assert min(ratios.values()) >= AA, ratios


def test_the_old_amber_and_green_failed_the_check_that_the_new_colours_pass(qapp) -> None:
    """The measure itself: the colours issue 11 measured at 2.3:1 and 3.5:1 on white come out so here."""
    white = QColor("#ffffff")
    assert round(contrast(QColor("#e0a100"), white), 1) == 2.3
    assert round(contrast(QColor("#1f9d55"), white), 1) == 3.5


def test_the_services_table_writes_states_readably_in_a_light_and_a_dark_window(qtbot, palette, tray_app, backend):
    from tests.kit.services import service_toml
    from tests.test_ui import make_config

    api = backend("healthy")
    app = tray_app(make_config(service_toml("backend", "http", url=api.url(), interval=0.1)))
    model = app.services_model
    qtbot.waitUntil(lambda: app.tray.icon_name() == "up", timeout=10_000)
    index = model.index(0, model.STATE)
    for pal in (QPalette(palette.palette()), dark_palette()):
        palette.setPalette(pal)
        base = pal.color(QPalette.ColorRole.Base)
        colour = model.data(index, role=9)  # Qt.ItemDataRole.ForegroundRole
        assert contrast(colour, base) >= AA, (colour.name(), base.name())


# -- the tray icon ---------------------------------------------------------------------------


def test_unknown_and_paused_are_told_apart_at_16_px_in_colour_and_in_monochrome(qapp, tmp_path: Path) -> None:
    for symbolic in (None, QColor("#202124"), QColor("#f2f2f2")):
        unknown = image(state_icon(State.UNKNOWN, symbolic=symbolic))
        paused = image(state_icon(State.UNKNOWN, paused=True, symbolic=symbolic))
        unknown.save(str(tmp_path / f"unknown-{symbolic.name() if symbolic else 'colour'}.png"))
        drawn = max(len(opaque(unknown)), len(opaque(paused)))
        assert differing_pixels(unknown, paused) >= drawn // 4, "unknown and paused look alike at 16 px"


def test_each_state_has_its_own_icon_at_16_px(qapp) -> None:
    names = sorted(set(ICON_NAMES.values())) + ["paused"]
    images = {name: image(tray_icon(name)) for name in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert differing_pixels(images[a], images[b]) >= 12, f"{a} and {b} look alike at 16 px"


def test_the_tray_icon_is_trayapps_mark_with_a_badge(qapp) -> None:
    """The mark's slate tile fills much of every state's icon (not a generic status disc); paused greys it."""

    def slate(c: QColor) -> bool:
        return abs(c.red() - MARK.red()) + abs(c.green() - MARK.green()) + abs(c.blue() - MARK.blue()) < 40

    for name in ("up", "degraded", "down", "unknown", "paused"):
        pixels = opaque(image(tray_icon(name), 22))
        if name == "paused":
            assert not any(slate(c) for c in pixels)
        else:
            assert sum(slate(c) for c in pixels) >= len(pixels) // 4, name
    mark = opaque(image(app_icon(), 32))
    assert len(mark) > 32 * 32 // 2
    assert icon_path(APP) is not None and icon_path(APP).name == "trayapp.svg" and icon_path("down") is not None


def test_the_monochrome_icon_follows_the_panels_light_or_dark_theme(qtbot, palette) -> None:
    palette.setPalette(dark_palette())
    tray = Tray(lambda: [])
    tray.set_symbolic(True)

    def mean_lightness() -> float:
        pixels = opaque(image(tray.icon.icon(), 22))
        return sum(c.lightness() for c in pixels) / len(pixels)

    assert mean_lightness() > 200  # light on a dark panel
    light = QPalette(QColor("#efefef"))
    palette.setPalette(light)
    qtbot.waitUntil(lambda: mean_lightness() < 60)  # and dark once the theme turns light
    tray.set_symbolic(False)
    colours = opaque(image(tray.icon.icon(), 22))
    assert any(c.saturationF() > 0.4 for c in colours)  # the coloured look again


def test_the_tray_icons_are_their_svgs_drawn_at_each_size(qapp) -> None:
    # The tray loads committed PNGs, so no SVG renderer is loaded at idle (issue #12); after an
    # SVG changes, packaging/render_icons.py draws them again. A PNG that no longer matches fails here.
    stale = []
    for name in sorted({*ICON_NAMES.values(), PAUSED}):
        for template in (False, True):
            drawn = icon_bytes(name, template)
            for size in SIZES:
                committed = QImage.fromData(icon_png(name, size, template), "PNG")
                expected = render_svg(drawn, size).toImage()
                argb = QImage.Format.Format_ARGB32
                if committed.convertToFormat(argb) != expected.convertToFormat(argb):
                    stale.append(f"{name}{'-template' if template else ''}-{size}.png")
    assert stale == [], "run packaging/render_icons.py"
