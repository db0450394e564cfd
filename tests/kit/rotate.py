"""Rotating a log file the way real rotators do, on real files.

* :func:`logrotate` runs the real logrotate (Debian's ``logrotate`` package) on one file with
  the directives given, ``copytruncate`` among them for the copy-then-truncate cases.
* :func:`pm2_logrotate` runs, in a real Node process, what pm2-logrotate's ``proceed()`` does
  (keymetrics/pm2-logrotate app.js): stream the file into ``NAME__YYYY-MM-DD_HH-mm-ss.log``
  (the name is the file's less its last four characters), then ``fs.truncate`` it. pm2-logrotate
  itself only runs inside a PM2 daemon.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

_PM2_PROCEED = r"""
const fs = require("fs");
const [file, stamp] = process.argv.slice(1);
const finalName = file.substr(0, file.length - 4) + "__" + stamp + ".log";
const readStream = fs.createReadStream(file);
const writeStream = fs.createWriteStream(finalName, { flags: "w+" });
readStream.pipe(writeStream);
writeStream.on("finish", () => {
  readStream.close();
  writeStream.close();
  fs.truncate(file, (err) => {
    if (err) throw err;
    console.log(finalName);
  });
});
"""


def logrotate_binary() -> str:
    """The logrotate program (in /usr/sbin, which is not on every user's PATH)."""
    found = shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("logrotate is not installed (Debian package 'logrotate'; scripts/test installs it)")
    return found


def logrotate(path: Path, *directives: str, timeout: float = 30) -> None:
    """Rotate ``path`` now (``-f``) with real logrotate and ``directives`` (e.g. "copytruncate", "dateext")."""
    work = path.parent / ".logrotate"
    work.mkdir(exist_ok=True)
    conf = work / f"{path.name}.conf"
    body = "\n".join(f"    {d}" for d in ("missingok", "rotate 5", *directives))
    conf.write_text(f'"{path}" {{\n{body}\n}}\n')
    conf.chmod(0o644)  # logrotate refuses a config that others may write
    subprocess.run(
        [logrotate_binary(), "-f", "-s", str(work / "state"), str(conf)],
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def pm2_logrotate(path: Path, stamp: str = "2026-11-30_14-52-00", timeout: float = 30) -> Path:
    """Rotate ``path`` as pm2-logrotate does; returns the copy's path."""
    done = subprocess.run(
        ["node", "-e", _PM2_PROCEED, str(path), stamp], check=True, capture_output=True, text=True, timeout=timeout
    )
    return Path(done.stdout.strip())
