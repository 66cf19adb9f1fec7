"""Integration plugins: the public API, the loader and the built-in integrations."""

from plugins.base import Integration, IntegrationContext, IntegrationError, Principal

__all__ = ["Integration", "IntegrationContext", "IntegrationError", "Principal"]
