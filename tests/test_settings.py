"""Settings: defaults, the TOML file, environment overrides and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError, load_settings, redact_database_url


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(environ={})

    assert settings == Settings()
    assert settings.database_url == "sqlite:///data/gateway.db"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.issuer_url == "http://127.0.0.1:8000"
    assert settings.access_token_lifetime_seconds == 3600
    assert settings.bcrypt_rounds == 12
    assert settings.plugin_timeout_seconds == 30.0
    assert settings.integrations == {}
    assert settings.secure_cookies is False


def test_issuer_built_from_host_and_port() -> None:
    settings = load_settings(environ={"GATEWAY_HOST": "::1", "GATEWAY_PORT": "9000"})

    assert settings.issuer_url == "http://[::1]:9000"


def test_issuer_setting_drops_trailing_slash() -> None:
    settings = load_settings(environ={"GATEWAY_ISSUER": "https://gw.example.com/"})

    assert settings.issuer_url == "https://gw.example.com"
    assert settings.secure_cookies is True


def test_toml_file_with_integration_tables(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'database_url = "postgresql://gw@127.0.0.1:5432/gateway"\n'
        "port = 8100\n"
        "plugin_timeout_seconds = 5\n"
        "trust_proxy_headers = true\n"
        "[integrations.invoice-lookup]\n"
        'endpoint = "https://erp.example.com/api"\n'
        "retries = 3\n"
        "[integrations.echo]\n"
        "verbose = true\n",
    )

    settings = load_settings(path, environ={})

    assert settings.database_url == "postgresql://gw@127.0.0.1:5432/gateway"
    assert settings.port == 8100
    assert settings.plugin_timeout_seconds == 5.0
    assert isinstance(settings.plugin_timeout_seconds, float)
    assert settings.trust_proxy_headers is True
    assert settings.integrations == {
        "invoice-lookup": {"endpoint": "https://erp.example.com/api", "retries": 3},
        "echo": {"verbose": True},
    }


def test_toml_gateway_table(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[gateway]\nport = 8200\nlog_level = 'debug'\n")

    settings = load_settings(path, environ={})

    assert settings.port == 8200
    assert settings.log_level == "DEBUG"


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "bcrypt_rounds = 10\n")

    settings = load_settings(environ={"GATEWAY_CONFIG": path})

    assert settings.bcrypt_rounds == 10


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "port = 8100\nhost = '127.0.0.5'\n")

    settings = load_settings(
        path,
        environ={
            "GATEWAY_PORT": "8300",
            "GATEWAY_ACCESS_TOKEN_LIFETIME_SECONDS": "600",
            "GATEWAY_TRUST_PROXY_HEADERS": "yes",
            "GATEWAY_PLUGIN_TIMEOUT_SECONDS": "2.5",
        },
    )

    assert settings.port == 8300
    assert settings.host == "127.0.0.5"
    assert settings.access_token_lifetime_seconds == 600
    assert settings.trust_proxy_headers is True
    assert settings.plugin_timeout_seconds == 2.5


def test_command_line_overrides_environment() -> None:
    settings = load_settings(
        environ={"GATEWAY_PORT": "8300", "GATEWAY_HOST": "127.0.0.2"},
        port=8400,
        host=None,
    )

    assert settings.port == 8400
    assert settings.host == "127.0.0.2"


@pytest.mark.parametrize(
    ("variable", "value", "expected_message"),
    [
        ("GATEWAY_PORT", "eighty", "port (GATEWAY_PORT): expected a whole number"),
        ("GATEWAY_PORT", "0", "port (GATEWAY_PORT): expected a value from 1 to 65535"),
        ("GATEWAY_PORT", "", "port (GATEWAY_PORT): expected a whole number"),
        (
            "GATEWAY_BCRYPT_ROUNDS",
            "3",
            "bcrypt_rounds (GATEWAY_BCRYPT_ROUNDS): expected a value from 4 to 31",
        ),
        (
            "GATEWAY_ACCESS_TOKEN_LIFETIME_SECONDS",
            "1.5",
            "access_token_lifetime_seconds (GATEWAY_ACCESS_TOKEN_LIFETIME_SECONDS):"
            " expected a whole number",
        ),
        (
            "GATEWAY_PLUGIN_TIMEOUT_SECONDS",
            "nan",
            "plugin_timeout_seconds (GATEWAY_PLUGIN_TIMEOUT_SECONDS):"
            " expected a value from 0.1 to 3600",
        ),
        (
            "GATEWAY_MAX_BODY_BYTES",
            "0",
            "max_body_bytes (GATEWAY_MAX_BODY_BYTES): expected a value from 1024 to"
            " 1073741824, got 0",
        ),
        (
            "GATEWAY_REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS",
            "1",
            "refresh_token_absolute_lifetime_seconds"
            " (GATEWAY_REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECONDS): expected a value"
            " from 60 to 157680000, got 1",
        ),
        (
            "GATEWAY_TRUST_PROXY_HEADERS",
            "maybe",
            "GATEWAY_TRUST_PROXY_HEADERS: expected true or false",
        ),
        (
            "GATEWAY_LOG_LEVEL",
            "chatty",
            "log_level (GATEWAY_LOG_LEVEL): expected one of DEBUG, INFO",
        ),
        (
            "GATEWAY_DATABASE_URL",
            "mysql://db/gateway",
            "database_url (GATEWAY_DATABASE_URL): expected sqlite:///PATH or"
            " postgresql://",
        ),
        (
            "GATEWAY_DATABASE_URL",
            "sqlite:///",
            "database_url (GATEWAY_DATABASE_URL): expected sqlite:///PATH",
        ),
        (
            "GATEWAY_DATABASE_URL",
            "postgresql://127.0.0.1:5432",
            "database_url (GATEWAY_DATABASE_URL): expected sqlite:///PATH",
        ),
        (
            "GATEWAY_ISSUER",
            "ftp://gw.example.com",
            "issuer (GATEWAY_ISSUER): expected an http or https URL",
        ),
        (
            "GATEWAY_ISSUER",
            "https://gw.example.com/?tenant=1",
            "issuer (GATEWAY_ISSUER): expected an http or https URL",
        ),
        (
            "GATEWAY_HOST",
            "gateway host",
            "host (GATEWAY_HOST): expected an IP address or host name",
        ),
        (
            "GATEWAY_HOST",
            "gateway host-1",
            "host (GATEWAY_HOST): expected an IP address or host name",
        ),
        (
            "GATEWAY_HOST",
            "gateway\n",
            "host (GATEWAY_HOST): expected an IP address or host name",
        ),
        (
            "GATEWAY_HOST",
            "-gateway",
            "host (GATEWAY_HOST): expected an IP address or host name",
        ),
    ],
)
def test_bad_environment_value_names_setting(
    variable: str, value: str, expected_message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={variable: value})

    message = str(caught.value)
    assert message.startswith(expected_message), message
    assert "\n" not in message


def test_bad_database_url_message_hides_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"GATEWAY_DATABASE_URL": "mysql://gw:hunter22@db/gw"})

    assert "hunter22" not in str(caught.value)
    assert "mysql://gw:***@db/gw" in str(caught.value)


def test_redact_database_url() -> None:
    assert (
        redact_database_url("postgresql://gw:s3cret@db:5432/gateway")
        == "postgresql://gw:***@db:5432/gateway"
    )
    assert redact_database_url("sqlite:///data/gateway.db") == (
        "sqlite:///data/gateway.db"
    )


@pytest.mark.parametrize(
    ("text", "expected_message"),
    [
        ("port = 'many'\n", "port (GATEWAY_PORT): expected a whole number"),
        ("port = 80.5\n", "port (GATEWAY_PORT): expected a whole number"),
        ("port = true\n", "port (GATEWAY_PORT): expected a number"),
        ("host = 127\n", "host (GATEWAY_HOST): expected a string"),
        (
            "trust_proxy_headers = 'yes'\n",
            "trust_proxy_headers (GATEWAY_TRUST_PROXY_HEADERS): expected true or false",
        ),
        ("colour = 'blue'\n", "config file {path}: unknown setting 'colour'"),
        ("gateway = 3\n", "config file {path}: [gateway] must be a table"),
        ("port = \n", "config file {path}: invalid TOML"),
        (
            "integrations = 'all'\n",
            "integrations: expected [integrations.NAME] tables of settings",
        ),
        (
            "[integrations]\necho = 1\n",
            "integrations: expected [integrations.NAME] tables of settings",
        ),
        (
            "session_idle_lifetime_seconds = 7200\n"
            "session_absolute_lifetime_seconds = 3600\n",
            "session_idle_lifetime_seconds: expected at most"
            " session_absolute_lifetime_seconds",
        ),
    ],
)
def test_bad_file_value_names_setting(
    tmp_path: Path, text: str, expected_message: str
) -> None:
    path = write_toml(tmp_path, text)

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})

    message = str(caught.value)
    assert message.startswith(expected_message.format(path=path)), message
    assert "\n" not in message


def test_missing_config_file(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.toml")

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})

    assert str(caught.value) == (
        f"config file {path}: cannot be read (No such file or directory)"
    )
