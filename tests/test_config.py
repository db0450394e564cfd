"""Config loading: the file's location rules, defaults, and one clear sentence per mistake."""

from __future__ import annotations

import os
import stat

import pytest

from trayapp.config.edit import save_service_settings
from trayapp.config.load import BUILTIN, ConfigError, load_config, parse_config
from trayapp.model import Kind

GOOD = """
[[service]]
name = "backend"
kind = "http"
url = "http://127.0.0.1:5000/api/health"
timeout = 1.5
interval = 3

[[service]]
name = "db"
kind = "mongo"
uri = "mongodb://user:secret@127.0.0.1:27017/app"

[[service]]
name = "vite"
kind = "tcp"
host = "127.0.0.1"
port = 5173
"""


def test_schema_from_the_issue_parses_with_defaults() -> None:
    config = parse_config(GOOD, "trayapp.toml")
    backend, db, vite = config.services
    assert (backend.kind, backend.host, backend.port, backend.timeout, backend.interval) == (
        Kind.HTTP,
        "127.0.0.1",
        5000,
        1.5,
        3.0,
    )
    assert (db.kind, db.host, db.port, db.timeout, db.down_after) == (Kind.MONGO, "127.0.0.1", 27017, 2.0, 2)
    assert (vite.kind, vite.target) == (Kind.TCP, "127.0.0.1:5173")


def test_mongo_password_never_appears_in_the_displayed_target() -> None:
    db = parse_config(GOOD, "trayapp.toml").services[1]
    assert "secret" not in db.display_target
    assert db.display_target == "mongodb://***@127.0.0.1:27017/app"
    assert "secret" in db.secrets


@pytest.mark.parametrize(
    ("text", "service", "field", "words"),
    [
        ('[[service]\nname = "x"', None, None, "not valid TOML"),
        ('[[service]]\nname = "api"\nkind = "grpc"', "api", "kind", "'grpc' is not a known kind"),
        ('[[service]]\nname = "api"\nkind = "http"', "api", "url", "is required"),
        ('[[service]]\nname = "vite"\nkind = "tcp"\nport = 70000', "vite", "port", "out of range"),
        ('[[service]]\nname = "vite"\nkind = "tcp"\nport = 0', "vite", "port", "out of range"),
        (
            '[[service]]\nname = "a"\nkind = "tcp"\nport = 1\n[[service]]\nname = "a"\nkind = "tcp"\nport = 2',
            "a",
            "name",
            "defined twice",
        ),
        ('[[service]]\nname = "a"\nkind = "tcp"\nport = 1\ntimeout = -1', "a", "timeout", "greater than 0"),
        ('[[service]]\nname = "a"\nkind = "tcp"\nport = 1\ntimout = 1', "a", "timout", "did you mean 'timeout'"),
        ('[[service]]\nname = "a"\nkind = "tcp"\nport = 1\nurl = "http://x"', "a", "url", "not a known key"),
        ('[[service]]\nkind = "tcp"\nport = 1', "#1", "name", "is required"),
        ('[[service]]\nname = "a"\nkind = "http"\nurl = "ftp://x/"', "a", "url", "http:// or https://"),
        ('[[service]]\nname = "m"\nkind = "mongo"\nuri = "mongodb://u:pw@h:99999"', "m", "uri", "out of range"),
        ('[[service]]\nname = "a"\nkind = "tcp"\nport = "80"', "a", "port", "out of range"),
        ('[[service]]\nname = "a"\nkind = "tcp"\nport = 1\ndown_after = 0', "a", "down_after", "whole number"),
        ("services = 1", None, "services", "did you mean 'service'"),
        ("", None, None, "defines no [[service]]"),
    ],
)
def test_bad_config_names_file_service_and_field(text: str, service: str | None, field: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/home/dev/app/trayapp.toml")
    error = caught.value
    message = str(error)
    assert message.startswith("/home/dev/app/trayapp.toml")
    assert words in message
    assert (error.service, error.field) == (service, field)
    if service:
        assert f"service {service!r}" in message
    if field:
        assert f"field {field!r}" in message
    assert "pw" not in message  # a password in a bad URI is not echoed back


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_lookup_order_cwd_then_builtin(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("TRAYAPP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    builtin = load_config()
    assert builtin.source == BUILTIN
    assert [(s.name, s.port) for s in builtin.services] == [("backend", 5000), ("frontend", 5173), ("db", 27017)]
    (tmp_path / "xdg" / "trayapp").mkdir(parents=True)
    (tmp_path / "xdg" / "trayapp" / "trayapp.toml").write_text(GOOD.replace('"vite"', '"from-xdg"'))
    assert load_config().services[2].name == "from-xdg"
    (tmp_path / "trayapp.toml").write_text(GOOD)
    assert load_config().services[2].name == "vite"


def test_config_that_is_not_utf8_is_a_sentence(tmp_path) -> None:
    path = tmp_path / "trayapp.toml"
    path.write_bytes(b'[[service]]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_config(path)


def test_invalid_mongo_option_is_reported_without_the_password() -> None:
    text = '[[service]]\nname = "db"\nkind = "mongo"\nuri = "mongodb://u:topsecret@h/?tls=maybe"'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "trayapp.toml")
    assert (caught.value.service, caught.value.field) == ("db", "uri")
    assert "topsecret" not in str(caught.value)


def _https(extra: str) -> str:
    return f'[[service]]\nname = "web"\nkind = "http"\nurl = "https://127.0.0.1:5173/"\n{extra}\n'


def test_tls_keys_resolve_the_ca_file_next_to_the_config(tmp_path, tls_files) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "rootCA.pem").write_bytes(tls_files.ca.read_bytes())
    config = tmp_path / "trayapp.toml"
    config.write_text(_https('tls_ca_file = "certs/rootCA.pem"'))
    [web] = load_config(config).services
    assert (web.tls_ca_file, web.tls_verify) == (str(tmp_path / "certs" / "rootCA.pem"), True)
    config.write_text(_https("tls_verify = false"))
    [web] = load_config(config).services
    assert (web.tls_ca_file, web.tls_verify) == (None, False)
    config.write_text(_https(""))
    [web] = load_config(config).services
    assert (web.tls_ca_file, web.tls_verify) == (None, True)  # verify by default


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ('tls_verify = "no"', "tls_verify", "must be true or false, not 'no'"),
        ('tls_ca_file = "missing.pem"', "tls_ca_file", "missing.pem': no such file"),
        ('tls_ca_file = "not-a-cert.pem"', "tls_ca_file", "holds no PEM certificate"),
        ('tls_ca_file = "ca.pem"\ntls_verify = false', "tls_ca_file", "has no effect with tls_verify = false"),
        ("tls_ca_file = 1", "tls_ca_file", "must be a path"),
        ("tls_verfy = true", "tls_verfy", "did you mean 'tls_verify'"),
    ],
)
def test_bad_tls_keys_name_file_service_and_field(tmp_path, tls_files, extra: str, field: str, words: str) -> None:
    (tmp_path / "ca.pem").write_bytes(tls_files.ca.read_bytes())
    (tmp_path / "not-a-cert.pem").write_text("hello\n")
    config = tmp_path / "trayapp.toml"
    config.write_text(_https(extra))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value).startswith(f"{config}: service 'web': field {field!r}: ")
    assert words in str(caught.value)


@pytest.mark.parametrize("key", ["tls_verify = false", 'tls_ca_file = "ca.pem"'])
def test_tls_keys_only_apply_to_an_https_url(tmp_path, tls_files, key: str) -> None:
    (tmp_path / "ca.pem").write_bytes(tls_files.ca.read_bytes())
    config = tmp_path / "trayapp.toml"
    config.write_text(f'[[service]]\nname = "api"\nkind = "http"\nurl = "http://127.0.0.1:5000/"\n{key}\n')
    with pytest.raises(ConfigError, match="field 'tls_.*': only applies to an https:// url"):
        load_config(config)
    config.write_text(f'[[service]]\nname = "db"\nkind = "tcp"\nport = 1\n{key}\n')
    with pytest.raises(ConfigError, match="is not a known key for kind tcp"):
        load_config(config)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("mongodb://user@corp:pw@127.0.0.1/app", "must be escaped"),
        ("mongodb://user:p%zzpw@127.0.0.1/app", "must be escaped"),
        ("mongodb://user:pw@127.0.0.1/my app", "Bad database name"),
        ("mongodb://user:pw@127.0.0.1:27o17/app", "out of range"),
    ],
)
def test_a_malformed_mongo_uri_is_a_sentence_without_the_password(uri: str, words: str) -> None:
    text = f'[[service]]\nname = "db"\nkind = "mongo"\nuri = "{uri}"'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "trayapp.toml")
    assert (caught.value.service, caught.value.field) == ("db", "uri")
    assert words in str(caught.value)
    assert "pw" not in str(caught.value)


def test_a_well_formed_mongo_uri_with_escaped_credentials_and_a_collection_is_accepted() -> None:
    text = '[[service]]\nname = "db"\nkind = "mongo"\nuri = "mongodb://us%40er:p%2Fw@[::1]:27018/app.users"'
    service = parse_config(text, "trayapp.toml").services[0]
    assert (service.host, service.port) == ("::1", 27018)


def test_saving_through_a_symlink_writes_the_file_it_leads_to(tmp_path) -> None:
    # A dotfile manager's layout: the config dir holds a link to a link to the real file.
    real = tmp_path / "dotfiles" / "trayapp.toml"
    real.parent.mkdir()
    real.write_text("# managed by my dotfiles\n" + GOOD)
    real.chmod(0o640)
    (tmp_path / "stow").mkdir()
    (tmp_path / "stow" / "trayapp.toml").symlink_to("../dotfiles/trayapp.toml")
    link = tmp_path / "config" / "trayapp.toml"
    link.parent.mkdir()
    link.symlink_to("../stow/trayapp.toml")

    saved = save_service_settings(load_config(link), "backend", interval=0.5, timeout=1.25)

    assert link.is_symlink() and os.readlink(link) == "../stow/trayapp.toml"  # the links stay links
    assert (tmp_path / "stow" / "trayapp.toml").is_symlink()
    text = real.read_text()
    assert text.startswith("# managed by my dotfiles\n")
    assert "interval = 0.5" in text and "timeout = 1.25" in text
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["dotfiles", "stow", "config", "trayapp.toml", "trayapp.toml", "trayapp.toml"]
    )  # no temporary file left anywhere
    assert saved.source == str(link) and saved.service("backend").interval == 0.5
    assert load_config(link).service("backend").timeout == 1.25
