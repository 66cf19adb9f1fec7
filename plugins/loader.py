"""Discovery of integration plugins through entry points.

A plugin that cannot be imported, is not an :class:`Integration` subclass, has
an invalid name or repeats a name already loaded is recorded as failed with the
reason; the gateway starts and serves the others.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import logging
import re
from collections.abc import Iterable

from plugins.base import Integration

log = logging.getLogger("integration_gateway.plugins")

ENTRY_POINT_GROUP = "integration_gateway.integrations"
BUILTIN_DISTRIBUTION = "integration-gateway"
NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")


@dataclasses.dataclass(frozen=True)
class LoadedIntegration:
    integration: Integration
    entry_point: str
    distribution: str

    @property
    def name(self) -> str:
        return self.integration.name


@dataclasses.dataclass(frozen=True)
class FailedPlugin:
    entry_point: str
    distribution: str
    reason: str


class IntegrationRegistry:
    """The integrations that loaded and the plugins that failed to."""

    def __init__(self) -> None:
        self.loaded: dict[str, LoadedIntegration] = {}
        self.failed: list[FailedPlugin] = []

    def get(self, name: str) -> LoadedIntegration | None:
        return self.loaded.get(name)

    def names(self) -> list[str]:
        return sorted(self.loaded)

    def add(
        self, integration: Integration, entry_point: str, distribution: str
    ) -> None:
        """Register an integration instance, or record why it cannot be."""
        name = getattr(integration, "name", "")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            self._fail(
                entry_point,
                distribution,
                f"invalid name {name!r}: use 1 to 64 lower-case letters, digits"
                " and hyphens, not starting or ending with a hyphen",
            )
            return
        existing = self.loaded.get(name)
        if existing is not None:
            self._fail(
                entry_point,
                distribution,
                f"name {name!r} is already used by {existing.entry_point}"
                f" from {existing.distribution}",
            )
            return
        self.loaded[name] = LoadedIntegration(integration, entry_point, distribution)
        log.info(
            "integration %s %s loaded from %s (%s)",
            name,
            integration.version,
            entry_point,
            distribution,
        )

    def _fail(self, entry_point: str, distribution: str, reason: str) -> None:
        self.failed.append(FailedPlugin(entry_point, distribution, reason))
        log.error(
            "plugin %s from %s failed to load: %s", entry_point, distribution, reason
        )


def _distribution_name(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name if dist is not None else "unknown distribution"


def _sort_key(entry_point: importlib.metadata.EntryPoint) -> tuple[bool, str, str]:
    # Built-in integrations load first, so a plugin cannot take their names.
    distribution = _distribution_name(entry_point)
    return (distribution != BUILTIN_DISTRIBUTION, distribution, entry_point.name)


def load_integrations(
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> IntegrationRegistry:
    """Import every plugin of the entry-point group into a new registry."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    registry = IntegrationRegistry()
    seen: set[tuple[str, str]] = set()
    for entry_point in sorted(entry_points, key=_sort_key):
        distribution = _distribution_name(entry_point)
        # The same distribution can be visible twice on sys.path (an editable
        # install next to its source tree); load it once.
        if (distribution, entry_point.value) in seen:
            continue
        seen.add((distribution, entry_point.value))
        label = f"{entry_point.name} = {entry_point.value}"
        try:
            plugin_class = entry_point.load()
        except Exception as error:
            log.exception("plugin %s from %s failed to import", label, distribution)
            registry._fail(
                label, distribution, f"import failed: {type(error).__name__}: {error}"
            )
            continue
        if not (
            inspect.isclass(plugin_class)
            and issubclass(plugin_class, Integration)
            and plugin_class is not Integration
        ):
            registry._fail(label, distribution, "not a subclass of Integration")
            continue
        if plugin_class.run is Integration.run:
            registry._fail(label, distribution, "does not implement run()")
            continue
        try:
            integration = plugin_class()
        except Exception as error:
            log.exception("plugin %s from %s failed to start", label, distribution)
            registry._fail(
                label,
                distribution,
                f"constructor failed: {type(error).__name__}: {error}",
            )
            continue
        registry.add(integration, label, distribution)
    return registry
