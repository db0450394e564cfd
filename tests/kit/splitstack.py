"""The real stack laid out as most MERN projects are: ``server/`` and ``client/`` packages, each
with its own ``package.json``, the backend's ``PORT`` and ``MONGODB_URI`` in ``server/.env``, and
the Vite proxy's target written as a literal in ``client/vite.config.js``. trayapp discovers such
a folder from its files (issue #10 section 1), so its checks can name the ``file:line`` of each value.

The processes are the real ones of :mod:`tests.kit.stack` (same sources, same ``node_modules``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.kit.stack import NODE_MODULES, Stack

SERVER_PACKAGE = {
    "name": "server",
    "private": True,
    "type": "module",
    "scripts": {"dev": "nodemon index.js"},
    "dependencies": {"express": "^5.3.0", "mongoose": "^9.12.1"},
}
CLIENT_PACKAGE = {
    "name": "client",
    "private": True,
    "type": "module",
    "scripts": {"dev": "vite"},
    "devDependencies": {"vite": "8.3.8"},
}


def split_project(
    stack: Stack, *, backend_port: int, mongodb_uri: str, vite_port: int, proxy_target: str | None, name: str = "app"
) -> Path:
    """``stack.project(name)`` rewritten to the server/ + client/ layout; returns its folder.

    ``proxy_target`` None removes the proxy from the Vite config (no ``/api`` rule at all).
    """
    project = stack.project(name)
    for top in ("package.json", "package-lock.json"):
        (project / top).unlink(missing_ok=True)
    for folder, package in (("server", SERVER_PACKAGE), ("client", CLIENT_PACKAGE)):
        (project / folder / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
        link = project / folder / "node_modules"
        if not link.exists():
            link.symlink_to(NODE_MODULES, target_is_directory=True)
    (project / "server" / ".env").write_text(f"PORT={backend_port}\nMONGODB_URI={mongodb_uri}\n", encoding="utf-8")
    config = project / "client" / "vite.config.js"
    text = config.read_text(encoding="utf-8")
    text = text.replace("Number(process.env.CLIENT_PORT || 5173)", str(vite_port))
    if proxy_target is None:
        text = re.sub(r"\n    proxy: \{.*?\n    \},", "", text, flags=re.DOTALL)
    else:
        text = text.replace("process.env.API_PROXY_TARGET || 'http://localhost:5000'", repr(proxy_target))
    config.write_text(text, encoding="utf-8")
    return project
