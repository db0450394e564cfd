"""Service configs for tests, built through the real config parser."""

from __future__ import annotations

from trayapp.config.load import ServiceConfig, parse_config


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def service_toml(name: str, kind: str, **fields: object) -> str:
    lines = ["[[service]]", f"name = {_toml_value(name)}", f"kind = {_toml_value(kind)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def make_service(name: str, kind: str, **fields: object) -> ServiceConfig:
    return parse_config(service_toml(name, kind, **fields), "test.toml").services[0]


def http_service(url: str, name: str = "backend", timeout: float = 1.0, **fields: object) -> ServiceConfig:
    return make_service(name, "http", url=url, timeout=timeout, **fields)


def mongo_service(uri: str, name: str = "db", timeout: float = 1.0, **fields: object) -> ServiceConfig:
    return make_service(name, "mongo", uri=uri, timeout=timeout, **fields)


def tcp_service(host: str, port: int, name: str = "vite", timeout: float = 1.0, **fields: object) -> ServiceConfig:
    return make_service(name, "tcp", host=host, port=port, timeout=timeout, **fields)
