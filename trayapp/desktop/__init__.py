"""trayapp on the desktop: the menu entry and icons (:mod:`.entry`), start at login (:mod:`.autostart`),
notifications through the desktop's notification server (:mod:`.notify`).

Qt-free; the CLI (``trayapp desktop``, ``trayapp autostart``), the tray menu and the settings use it.
"""
