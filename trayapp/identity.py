"""A service's identity: the config it comes from plus its name (issue 9, section 2).

Two projects may both have a service ``backend``; what trayapp keeps of one (its captured
output, the record of its running child, a control request for it, the ``TRAYAPP_SERVICE``
mark in its children's environment) must never be taken for the other's. So everything is
keyed by the *config home* as well as the name:

- a config file: its real path (symlinks resolved), e.g. ``/home/me/shop/trayapp.toml``;
- a service discovered in a project (no config file, or a ``[[project]]`` entry of another
  config): the project root's ``trayapp.toml``, the file ``trayapp init`` would write there, so
  writing it keeps the identity of the services it describes;
- a config that is not a file (the built-in default, a test's text): its label as is, e.g.
  ``<built-in default>``.

:func:`service_identity` is ``<digest>:<name>``, the digest the first 12 hex digits of the
SHA-256 of the config home; :func:`home_folder` names the per-config folder for people,
``<config-folder-name>-<digest>`` (``shop-3f1c0a9b2d4e``).
"""

from __future__ import annotations

import os
import re

__all__ = ["config_home", "digest", "home_folder", "project_home", "service_identity"]

DIGEST_LEN = 12
CONFIG_NAME = "trayapp.toml"  # the project config's file name (as trayapp.config.load has it)


def config_home(source: str) -> str:
    """The config home of a config read from ``source`` (a path, or a ``<label>``)."""
    if not source or source.startswith("<"):
        return source or "<none>"
    return os.path.realpath(source)


def project_home(root: str | os.PathLike[str]) -> str:
    """The config home of services discovered in the project at ``root``."""
    return os.path.join(os.path.realpath(root), CONFIG_NAME)


def digest(home: str) -> str:
    """12 hex digits that tell one config home from another."""
    import hashlib  # here: 2 ms of start-up (OpenSSL) that a config without managed services does without

    return hashlib.sha256(home.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LEN]


def service_identity(home: str, name: str) -> str:
    """``<digest>:<name>``: the service ``name`` of the config at ``home``."""
    return f"{digest(home)}:{name}"


def home_folder(home: str) -> str:
    """A folder name for what is kept per config: ``<the config's folder name>-<digest>``
    (``default-<digest>`` for a config that is not a file)."""
    if home.startswith("<"):
        readable = "default" if "default" in home else re.sub(r"[^A-Za-z0-9._-]+", "-", home).strip("-.") or "config"
    else:
        readable = os.path.basename(os.path.dirname(home)) or "root"
        readable = re.sub(r"[^A-Za-z0-9._-]+", "-", readable).strip("-.") or "config"
    return f"{readable[:40]}-{digest(home)}"
