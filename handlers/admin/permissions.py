"""``POST /admin/users/<id>/permissions``: the permission checkboxes of a user."""

from __future__ import annotations

from auth.accounts import set_integration_permissions
from handlers.admin.users import UserPageMixin
from models.base import database
from models.users import PERMISSIONS, UserError


def checkbox_name(integration: str, permission: str) -> str:
    """Return the form field name of one checkbox of the matrix."""
    return f"{integration}:{permission}"


class UserPermissionsHandler(UserPageMixin):
    """Makes the checked boxes the user's permissions on every loaded integration."""

    def post(self, user_id: str) -> None:
        user = self.load_user(user_id)
        checked = set(self.request.body_arguments)
        wanted = {
            name: {
                permission
                for permission in PERMISSIONS
                if checkbox_name(name, permission) in checked
            }
            for name in self.gateway.registry.names()
        }
        try:
            with database.atomic():
                for name, permissions in wanted.items():
                    granted, revoked = set_integration_permissions(
                        user, name, permissions
                    )
                    for permission in granted:
                        self.audit(
                            "permission.grant", user.username, f"{permission} on {name}"
                        )
                    for permission in revoked:
                        self.audit(
                            "permission.revoke",
                            user.username,
                            f"{permission} on {name}",
                        )
        except UserError as error:
            self.render_user(user, 422, {"permissions": str(error)})
            return
        self.redirect(f"/admin/users/{user.id}?notice=permissions", status=303)
