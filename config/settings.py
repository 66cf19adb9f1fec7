"""The gateway's settings: documented defaults, a TOML file, then the environment.

Precedence, lowest first: the defaults below, the TOML file named by ``--config`` or
``GATEWAY_CONFIG``, then ``GATEWAY_<NAME>`` environment variables. A value that
cannot be used raises :class:`SettingsError` with one line naming the setting.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from typing import Any

ENV_PREFIX = "GATEWAY_"


class SettingsError(ValueError):
    """A setting has a value the gateway cannot start with."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the gateway, with its default."""

    #: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
    #: ``postgresql://user:password@host:port/database``.
    database_url: str = "sqlite:///data/gateway.db"
    #: Address the HTTP server listens on.
    host: str = "127.0.0.1"
    #: TCP port the HTTP server listens on.
    port: int = 8000
    #: Public base URL of the gateway, used as the token issuer and in links.
    #: Empty means ``http://HOST:PORT``.
    issuer: str = ""
    #: Lifetime of an access token.
    access_token_lifetime_seconds: int = 3600
    #: Lifetime of an authorization code.
    authorization_code_lifetime_seconds: int = 60
    #: A refresh token unused for this long expires.
    refresh_token_idle_lifetime_seconds: int = 14 * 24 * 3600
    #: A refresh token family expires this long after the authorization.
    refresh_token_absolute_lifetime_seconds: int = 90 * 24 * 3600
    #: A web session unused for this long expires.
    session_idle_lifetime_seconds: int = 30 * 60
    #: A web session expires this long after the login.
    session_absolute_lifetime_seconds: int = 12 * 3600
    #: bcrypt cost factor for user passwords (4 to 31).
    bcrypt_rounds: int = 12
    #: How long a verified Basic credential is remembered in memory.
    basic_auth_cache_seconds: int = 300
    #: How often a process reads the change counter that other processes
    #: raise, so that their revocations and permission changes reach the
    #: query results it keeps in memory. 0 reads it on every request.
    change_poll_seconds: float = 1.0
    #: A plugin run that takes longer than this gets a 504 response.
    plugin_timeout_seconds: float = 30.0
    #: Failed logins per username, and separately per client address, within
    #: ``login_throttle_window_seconds`` before further attempts get 429.
    login_throttle_max_failures: int = 5
    login_throttle_window_seconds: int = 300
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Trust ``X-Forwarded-For`` and ``X-Real-Ip`` for the client address.
    #: Set only behind a reverse proxy that overwrites those headers.
    trust_proxy_headers: bool = False
    #: Threads for bcrypt and for plugins written as plain functions.
    worker_threads: int = 8
    #: Python logging level name.
    log_level: str = "INFO"
    #: Per-integration settings, the ``[integrations.NAME]`` tables of the file.
    integrations: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )

    @property
    def issuer_url(self) -> str:
        """Return the issuer without a trailing slash."""
        if self.issuer:
            return self.issuer.rstrip("/")
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.issuer_url.startswith("https://")


_FIELDS = {field.name: field for field in dataclasses.fields(Settings)}

# Lower and upper bounds of numeric settings, both inclusive.
_RANGES: dict[str, tuple[float, float]] = {
    "port": (1, 65535),
    "access_token_lifetime_seconds": (60, 24 * 3600),
    "authorization_code_lifetime_seconds": (10, 600),
    "refresh_token_idle_lifetime_seconds": (60, 365 * 24 * 3600),
    "refresh_token_absolute_lifetime_seconds": (60, 5 * 365 * 24 * 3600),
    "session_idle_lifetime_seconds": (60, 7 * 24 * 3600),
    "session_absolute_lifetime_seconds": (60, 30 * 24 * 3600),
    "bcrypt_rounds": (4, 31),
    "basic_auth_cache_seconds": (0, 24 * 3600),
    "change_poll_seconds": (0, 60),
    "plugin_timeout_seconds": (0.1, 3600),
    "login_throttle_max_failures": (1, 1000),
    "login_throttle_window_seconds": (1, 24 * 3600),
    "max_body_bytes": (1024, 1024 * 1024 * 1024),
    "worker_threads": (1, 256),
}

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# RFC 1123 §2.1 host name label: letters, digits and inner hyphens.
_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def load_settings(
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from the file at ``path``, ``environ`` and ``overrides``."""
    if environ is None:
        environ = os.environ
    path = path or environ.get(ENV_PREFIX + "CONFIG") or None

    values: dict[str, Any] = {}
    if path:
        values.update(_read_toml(path))
    for name in _FIELDS:
        if name == "integrations":
            continue
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _parse_env(name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})

    for name, value in values.items():
        values[name] = _check(name, value)
    settings = Settings(**values)
    _check_whole(settings)
    return settings


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise SettingsError(
            f"config file {path}: cannot be read ({error.strerror})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path}: invalid TOML ({error})") from None

    # A [gateway] table is accepted as well as top-level keys.
    table = data.pop("gateway", {})
    if not isinstance(table, dict):
        raise SettingsError(f"config file {path}: [gateway] must be a table")
    data.update(table)
    for key in data:
        if key not in _FIELDS:
            raise SettingsError(f"config file {path}: unknown setting {key!r}")
    return data


def _parse_env(name: str, raw: str) -> Any:
    field_type = _FIELDS[name].type
    if field_type == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(
            f"{ENV_PREFIX}{name.upper()}: expected true or false, got {raw!r}"
        )
    return raw


def _check(name: str, value: Any) -> Any:
    label = f"{name} ({ENV_PREFIX}{name.upper()})"
    field_type = _FIELDS[name].type
    if field_type == "int":
        value = _as_number(label, value, int)
    elif field_type == "float":
        value = _as_number(label, value, float)
    elif field_type == "bool":
        if not isinstance(value, bool):
            raise SettingsError(f"{label}: expected true or false, got {value!r}")
    elif field_type == "str":
        if not isinstance(value, str):
            raise SettingsError(f"{label}: expected a string, got {value!r}")
    elif name == "integrations":
        if not isinstance(value, dict) or not all(
            isinstance(table, dict) for table in value.values()
        ):
            raise SettingsError(
                "integrations: expected [integrations.NAME] tables of settings"
            )

    if name in _RANGES:
        low, high = _RANGES[name]
        if not low <= value <= high:
            raise SettingsError(
                f"{label}: expected a value from {_format_bound(low)} to"
                f" {_format_bound(high)}, got {value!r}"
            )
    if name == "log_level":
        value = value.upper()
        if value not in _LOG_LEVELS:
            raise SettingsError(
                f"{label}: expected one of {', '.join(_LOG_LEVELS)}, got {value!r}"
            )
    if name == "database_url":
        _check_database_url(label, value)
    if name == "issuer" and value:
        _check_issuer(label, value)
    if name == "host":
        _check_host(label, value)
    return value


def _format_bound(bound: float) -> str:
    """Format a range bound, a whole number without a fraction or exponent."""
    if float(bound).is_integer():
        return str(int(bound))
    return str(bound)


def _as_number(label: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise SettingsError(f"{label}: expected a number, got {value!r}")
    try:
        if isinstance(value, str):
            return kind(value.strip())
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{label}: expected {expected}, got {value!r}") from None


def _check_database_url(label: str, url: str) -> None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite" and url.startswith("sqlite:///") and len(url) > 10:
        return
    if scheme in ("postgresql", "postgres"):
        parsed = urllib.parse.urlsplit(url)
        if parsed.path.strip("/"):
            return
    raise SettingsError(
        f"{label}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE,"
        f" got {_redact_url(url)!r}"
    )


def _redact_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.password:
        netloc = parsed.netloc.replace(":" + parsed.password + "@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def _check_issuer(label: str, issuer: str) -> None:
    parsed = urllib.parse.urlsplit(issuer)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.query
        or parsed.fragment
    ):
        raise SettingsError(
            f"{label}: expected an http or https URL without query or fragment,"
            f" got {issuer!r}"
        )


def _check_host(label: str, host: str) -> None:
    if host in ("localhost", ""):
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not all(
            _HOST_LABEL.match(part) for part in host.split(".")
        ):
            raise SettingsError(
                f"{label}: expected an IP address or host name, got {host!r}"
            ) from None


def _check_whole(settings: Settings) -> None:
    if (
        settings.refresh_token_idle_lifetime_seconds
        > settings.refresh_token_absolute_lifetime_seconds
    ):
        raise SettingsError(
            "refresh_token_idle_lifetime_seconds: expected at most"
            " refresh_token_absolute_lifetime_seconds"
        )
    if (
        settings.session_idle_lifetime_seconds
        > settings.session_absolute_lifetime_seconds
    ):
        raise SettingsError(
            "session_idle_lifetime_seconds: expected at most"
            " session_absolute_lifetime_seconds"
        )


def redact_database_url(url: str) -> str:
    """Return ``url`` with its password replaced, for logs and messages."""
    return _redact_url(url)
