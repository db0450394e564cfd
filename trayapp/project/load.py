"""Which stack trayapp watches: a config file, a discovered project, or the built-in default.

Lookup (:func:`load_stack`): ``--config FILE``, else ``$TRAYAPP_CONFIG``, else
``./trayapp.toml``; else, when the current folder is inside a JavaScript project, that
project's ``trayapp.toml`` if its root has one, or else its discovered stack; else the user's
config file; else the built-in default. A config's ``[[project]]`` folders are discovered at
load and their services added, named ``<project>-<service>``. :class:`Rediscovery` tells
when a discovered project's files changed, so a long-running monitor can reload.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trayapp.config.load import (
    BUILTIN,
    CONFIG_NAME,
    DEFAULT_TOML,
    ENV_CONFIG,
    Config,
    ConfigError,
    ServiceConfig,
    load_config,
    parse_config,
    user_config_path,
)
from trayapp.identity import project_home
from trayapp.text import shorten_home

# Discovery (tree-sitter, PyYAML, httpx) is imported only when a project is discovered, so a
# command run on a config file pays nothing for it (issue #12).
if TYPE_CHECKING:
    from trayapp.project.discover import Discovery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigChoice:
    """Which step of the lookup decides (see the module docstring), for ``trayapp config``.

    ``step``: "option" (--config), "env" ($TRAYAPP_CONFIG), "here" (./trayapp.toml),
    "project_file" (the project root's trayapp.toml), "project" (a project to discover),
    "user" (the user's config file) or "default". ``path``: the file it names (None for
    "project" and "default"); ``root``: the project's root for the two project steps.
    """

    step: str
    path: Path | None = None
    root: Path | None = None


def config_choice(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> ConfigChoice:
    """The lookup's decision, without reading any config: what :func:`load_stack` will load."""
    here = (cwd or Path.cwd()).resolve()
    if explicit:
        return ConfigChoice("option", Path(explicit))
    if os.environ.get(ENV_CONFIG):
        return ConfigChoice("env", Path(os.environ[ENV_CONFIG]))
    if (here / CONFIG_NAME).is_file():
        return ConfigChoice("here", here / CONFIG_NAME)
    from trayapp.project.packagejson import find_root

    root = find_root(here)
    if root is not None:
        if (root / CONFIG_NAME).is_file():
            return ConfigChoice("project_file", root / CONFIG_NAME, root)
        return ConfigChoice("project", None, root)
    return fallback_choice()


def fallback_choice() -> ConfigChoice:
    """The last two steps: the user's config file, else the built-in default."""
    user = user_config_path()
    return ConfigChoice("user", user) if user.is_file() else ConfigChoice("default")


def load_stack(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Config:
    """The config to watch (see the module docstring). Raises ConfigError with a sentence."""
    choice = config_choice(explicit, cwd)
    if choice.step == "project":
        from trayapp.project.discover import discover

        assert choice.root is not None
        discovery = discover(choice.root)
        if discovery.services:
            return discovered_config(discovery)
        log.info("discovery in %s found no service; using the usual lookup", choice.root)
        choice = fallback_choice()
    if choice.path is not None:  # load_config says "no such file" for --config or $TRAYAPP_CONFIG that is not one
        return expand_projects(load_config(choice.path))
    return expand_projects(parse_config(DEFAULT_TOML, BUILTIN))


def discovered_config(discovery: Discovery) -> Config:
    """The config a discovery amounts to: the text ``trayapp init`` would write, parsed by the
    same validator, each service marked discovered with where its values came from."""
    from trayapp.project.init import render

    text = render(discovery)
    source = f"<discovered in {shorten_home(str(discovery.root))}>"
    config = parse_config(text, source, base=discovery.root)
    origins = {s.name: s.origin for s in discovery.services}
    home = project_home(discovery.root)  # its identity: the project root (trayapp.toml there keeps it)
    services = tuple(
        replace(s, source="discovered", origin=origins.get(s.name, ()), config_file=home) for s in config.services
    )
    return replace(config, services=services, text=text, save_path=str(discovery.root / CONFIG_NAME))


def expand_projects(config: Config) -> Config:
    """``config`` with the services of its ``[[project]]`` folders added (named ``<project>-<name>``)."""
    if not config.projects:
        return config
    from trayapp.project.discover import discover

    services = list(config.services)
    taken = {s.name for s in services}
    for project in config.projects:
        discovery = discover(Path(project.path))
        if not discovery.services:
            raise ConfigError(
                config.source,
                f"[[project]] {project.path!r}: trayapp found no service there (no package depends on express, "
                "fastify, koa, @nestjs/core, hapi or vite)",
            )
        for service in discovered_config(discovery).services:
            named = _prefixed(service, project.name)
            if named.name in taken:
                raise ConfigError(
                    config.source, f"[[project]] {project.path!r}: service {named.name!r} is defined twice", "name"
                )
            taken.add(named.name)
            services.append(named)
    return replace(config, services=tuple(services))


def _prefixed(service: ServiceConfig, prefix: str) -> ServiceConfig:
    """The service named ``<prefix>-<name>``, and so are the services it names (depends_on, proxy_to)."""
    return replace(
        service,
        name=f"{prefix}-{service.name}",
        depends_on=tuple(f"{prefix}-{d}" for d in service.depends_on),
        proxy_to=f"{prefix}-{service.proxy_to}" if service.proxy_to else None,
    )


def project_roots(config: Config) -> list[Path]:
    """The folders ``config``'s discovered services come from."""
    roots = [Path(p.path) for p in config.projects]
    if config.source.startswith("<discovered in ") and config.save_path:
        roots.append(Path(config.save_path).parent)
    return roots


def project_inputs(config: Config) -> tuple[str, ...]:
    """The files whose change makes ``config``'s discovered services out of date (and each
    root's trayapp.toml: a ``trayapp init`` there changes what is loaded)."""
    from trayapp.project.discover import input_files

    inputs: list[str] = []
    for root in project_roots(config):
        inputs += list(input_files(root))
        inputs.append(str(root / CONFIG_NAME))
    return tuple(inputs)


def reload_stack(config: Config) -> Config:
    """``config`` loaded again the way it was found: its file, or its project's root."""
    if config.path is not None:
        return load_stack(config.path)
    roots = project_roots(config)
    return load_stack(None, cwd=roots[0]) if roots else config


class Rediscovery:
    """Notices when a discovered project's files change and loads the stack again.

    The first ``check()`` takes stock of the project's input files; each later one stats them
    (a few dozen ``stat`` calls) and, when one changed, appeared or vanished, returns the
    re-loaded config; else None. Run it on a worker thread: a reload reads files and may run
    Node for the Vite config. Raises ConfigError when the changed files make a bad config
    (the change is then not retried until the files change again).
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._inputs: tuple[str, ...] | None = None
        self._marks: tuple[tuple[str, int, int], ...] = ()

    @property
    def watching(self) -> bool:
        return bool(self._config.projects) or self._config.source.startswith("<discovered in ")

    def check(self) -> Config | None:
        from trayapp.project.discover import fingerprint

        if not self.watching:
            return None
        if self._inputs is None:
            self._inputs = project_inputs(self._config)
            self._marks = fingerprint(self._inputs)
            return None
        marks = fingerprint(self._inputs)
        if marks == self._marks:
            return None
        self._marks = marks
        config = reload_stack(self._config)
        self._config = config
        self._inputs = project_inputs(config)
        self._marks = fingerprint(self._inputs)
        return config
