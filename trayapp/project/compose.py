"""Docker Compose files: the MongoDB service and the port it publishes on this machine.

Read with PyYAML's node API (``yaml.compose``), so every value keeps its line. A service is
MongoDB when its image is a MongoDB image (``mongo``, ``mongo:7``, ``bitnami/mongodb``,
``mongodb/mongodb-community-server``) or it maps container port 27017. Ports in the short
form (``"27018:27017"``, ``"127.0.0.1:27018:27017/tcp"``) and the long form (``target`` /
``published`` / ``host_ip``) are read; ``${VAR:-default}`` takes VAR from the compose
folder's ``.env`` or the default.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from trayapp.project.envfiles import merged, read_env_file, relative
from trayapp.project.facts import Fact

log = logging.getLogger(__name__)

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
MONGO_PORT = 27017
_MONGO_IMAGE = re.compile(r"(^|/)mongo(db)?([:@/-]|$)|mongodb-community-server", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


@dataclass(frozen=True)
class ComposeMongo:
    service: str
    file: str
    #: the published host port, where it is written (None: not published to a fixed port)
    port: Fact[int] | None
    host_ip: str | None
    image: str | None


def compose_file(root: Path) -> Path | None:
    return next((root / n for n in COMPOSE_FILES if (root / n).is_file()), None)


def mongo_services(root: Path) -> tuple[list[ComposeMongo], str | None]:
    """The MongoDB services of the project's compose file, and a problem reading it (or None)."""
    path = compose_file(root)
    if path is None:
        return [], None
    rel = relative(path, root)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"{rel} cannot be read ({exc})"
    except yaml.YAMLError as exc:
        return [], f"{rel} is not valid YAML ({' '.join(str(exc).split())})"
    env = (
        {k: e.value or "" for k, e in merged([read_env_file(root / ".env", root)]).items()}
        if (root / ".env").is_file()
        else {}
    )
    services = _get(node, "services")
    if not isinstance(services, yaml.MappingNode):
        return [], None
    found: list[ComposeMongo] = []
    for key, spec in services.value:
        if not isinstance(spec, yaml.MappingNode):
            continue
        image_node = _get(spec, "image")
        image = _expand(image_node.value, env) if isinstance(image_node, yaml.ScalarNode) else None
        ports = _ports(_get(spec, "ports"), rel, env)
        is_mongo = bool(image and _MONGO_IMAGE.search(image)) or any(target == MONGO_PORT for target, _, _ in ports)
        if not is_mongo:
            continue
        published = [(p, ip) for target, p, ip in ports if target == MONGO_PORT or len(ports) == 1]
        port, host_ip = published[0] if published else (None, None)
        found.append(ComposeMongo(str(key.value), rel, port, host_ip, image))
    return found, None


def _get(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return value
    return None


def _expand(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        value = env.get(name)
        return value if value else (default or "")

    return _VARIABLE.sub(one, text)


def _ports(node: yaml.Node | None, rel: str, env: dict[str, str]) -> list[tuple[int, Fact[int] | None, str | None]]:
    """(container port, published host port with its line, host ip) of each ``ports`` entry."""
    if not isinstance(node, yaml.SequenceNode):
        return []
    found: list[tuple[int, Fact[int] | None, str | None]] = []
    for item in node.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.ScalarNode):
            text = _expand(item.value, env).split("/")[0]
            parts = text.rsplit(":", 2) if not text.startswith("[") else _split_v6(text)
            try:
                target = int(parts[-1].split("-")[0])
            except ValueError:
                continue
            if len(parts) == 1:  # container port only: Docker picks a random host port
                found.append((target, None, None))
                continue
            host_ip = parts[0] if len(parts) == 3 else None
            try:
                published = int(parts[-2].split("-")[0])
            except ValueError:
                found.append((target, None, host_ip))
                continue
            found.append((target, Fact(published, rel, line, f'"{item.value}"'), host_ip))
        elif isinstance(item, yaml.MappingNode):
            target_node, published_node, ip_node = _get(item, "target"), _get(item, "published"), _get(item, "host_ip")
            try:
                target = int(_expand(target_node.value, env)) if isinstance(target_node, yaml.ScalarNode) else 0
            except ValueError:
                continue
            fact = None
            if isinstance(published_node, yaml.ScalarNode):
                try:
                    value = int(_expand(published_node.value, env).split("-")[0])
                except ValueError:
                    value = 0
                if value:
                    fact = Fact(value, rel, published_node.start_mark.line + 1, f"published: {published_node.value}")
            ip = _expand(ip_node.value, env) if isinstance(ip_node, yaml.ScalarNode) else None
            found.append((target, fact, ip))
    return found


def _split_v6(text: str) -> list[str]:
    """``[::1]:27018:27017`` -> ["::1", "27018", "27017"]."""
    host, _, rest = text[1:].partition("]")
    return [host, *rest.lstrip(":").split(":")]
