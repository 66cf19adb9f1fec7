"""The built-in ``echo`` integration: returns the caller and the payload."""

from __future__ import annotations

from typing import Any

from plugins.base import Integration, IntegrationContext


class EchoIntegration(Integration):
    name = "echo"
    title = "Echo"
    description = "Returns who called and the JSON payload it was sent."
    version = "1.0.0"

    async def run(self, context: IntegrationContext, payload: Any) -> dict[str, Any]:
        principal = context.principal
        return {
            "integration": self.name,
            "principal": {
                "username": principal.username,
                "kind": principal.kind,
                "auth_method": principal.auth_method,
                "client_id": principal.client_id,
            },
            "payload": payload,
        }
