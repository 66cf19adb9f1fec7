"""Settings of the gateway: defaults, the TOML file and the environment."""

from config.settings import Settings, SettingsError, load_settings, redact_database_url

__all__ = ["Settings", "SettingsError", "load_settings", "redact_database_url"]
