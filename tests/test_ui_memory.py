"""What the tray keeps in memory at idle (issue #12: RSS <= 1.3x a minimal tray with httpx).

The sizes are measured in bench/ (``bench.tray_cpu``, ``bench.tray_memory``); these tests pin
the causes, in a fresh interpreter each, as the tray starts: what it keeps and what it imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.kit.cli import REPO

#: imports a module after PySide6 before and after ``keep_no_module_sources``; reports what
#: linecache holds of each and PySide6's answer for each ("uses PySide6": 0, "ignore": -1)
SOURCES_KEPT = textwrap.dedent(
    """
    import json, linecache, sys
    import trayapp.ui.app as app
    feature = sys.modules["PySide6.support.feature"]
    # (PySide6 checks the module an import statement returns: with ``from M import x``, M)
    from trayapp.project.init import __name__ as _  # checked by PySide6's own code
    patched = app.keep_no_module_sources()
    from trayapp.ui.logview import __name__ as _    # mentions PySide6
    from trayapp.project.doctor import __name__ as _  # does not
    before, qt_module, plain_module = (
        sys.modules[n] for n in ("trayapp.project.init", "trayapp.ui.logview", "trayapp.project.doctor")
    )
    report = {
        "patched": patched,
        "cached": [m.__name__ for m in (before, qt_module, plain_module) if m.__file__ in linecache.cache],
        "answers": {m.__name__: feature.pyside_feature_dict.get(m.__name__) for m in (before, qt_module, plain_module)},
    }
    app.freeze_startup_objects()
    report["cached_after_start_up"] = sorted(linecache.cache)
    print(json.dumps(report))
    """
)


def test_modules_imported_by_the_tray_do_not_keep_their_source_in_memory() -> None:
    # PySide6's import hook reads every module's source through linecache, which keeps it for
    # good (8-12 MiB in the tray); the tray asks the same question without keeping anything.
    out = subprocess.run(
        [sys.executable, "-c", SOURCES_KEPT],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["patched"] is True
    assert report["cached"] == ["trayapp.project.init"]  # before: kept; after: not
    # PySide6's answers are unchanged: a module that mentions PySide6 takes part in its features
    assert report["answers"] == {"trayapp.project.init": -1, "trayapp.ui.logview": 0, "trayapp.project.doctor": -1}
    assert report["cached_after_start_up"] == []  # what was read before is dropped at start-up
