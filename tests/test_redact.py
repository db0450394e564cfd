"""Credentials in URIs are hidden wherever a URI is shown."""

from __future__ import annotations

import pytest

from trayapp.config.redact import mongo_hosts, redact_command, redact_text, redact_uri, scrub, uri_secrets


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
        ("mongodb://user:secret@127.0.0.1:27017/app", "mongodb://***@127.0.0.1:27017/app"),
        # unencoded '@' and '/' inside the password: everything up to the last '@' goes
        (
            "mongodb://user:p@ss/w0rd@db.local:27017/app?authSource=admin",
            "mongodb://***@db.local:27017/app?authSource=admin",
        ),
        (
            "mongodb+srv://u:pw123@cluster0.example.net/db?authMechanism=MONGODB-AWS"
            "&authMechanismProperties=AWS_SESSION_TOKEN:tok3n&retryWrites=true",
            "mongodb+srv://***@cluster0.example.net/db?authMechanism=MONGODB-AWS"
            "&authMechanismProperties=***&retryWrites=true",
        ),
        (
            "mongodb://h/?tlsCertificateKeyFilePassword=hunter2&proxyUsername=bob&proxyPassword=x1y2",
            "mongodb://h/?tlsCertificateKeyFilePassword=***&proxyUsername=***&proxyPassword=***",
        ),
        ("http://admin:hunter2@127.0.0.1:5000/health", "http://***@127.0.0.1:5000/health"),
    ],
)
def test_redact_hides_user_info_and_secret_options(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_secrets_are_scrubbed_from_driver_messages() -> None:
    uri = "mongodb://user:s3cr%40t@127.0.0.1/?authMechanismProperties=AWS_SESSION_TOKEN:tok3n"
    secrets = uri_secrets(uri)
    message = "auth failed for user:s3cr@t and s3cr%40t with token tok3n"
    assert scrub(message, secrets) == "auth failed for user:*** and *** with token ***"


def test_mongo_hosts_are_read_without_dns() -> None:
    hosts, _ = mongo_hosts("mongodb://u:p@a.local:27018,[::1]:27019,b/db")
    assert hosts == [("a.local", 27018), ("::1", 27019), ("b", None)]


def test_uris_inside_a_command_line_are_redacted() -> None:
    assert redact_command(
        ["node", "server.js", "--db=mongodb://app:pw@db:27017/x", "postgres://u:p@h/d", "--port", "5000"]
    ) == ("node", "server.js", "--db=mongodb://***@db:27017/x", "postgres://***@h/d", "--port", "5000")
    shell = "MONGO_URL='mongodb://u:p@ss@h/db?proxyPassword=x1' API=http://h:1/ node app.js"
    assert redact_text(shell) == "MONGO_URL='mongodb://***@h/db?proxyPassword=***' API=http://h:1/ node app.js"
    assert redact_text("no uri here: a://") == "no uri here: a://"
