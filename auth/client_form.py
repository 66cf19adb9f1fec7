"""The application form of the admin pages: every field checked, errors by field.

The core rules live in :mod:`auth.clients`. This module runs each of them on
its own field, so the page can show every error next to its field at once
instead of only the first.
"""

from __future__ import annotations

import dataclasses

from auth.clients import ClientError, clean_redirect_uris, validate_client_fields
from models.clients import CLIENT_CREDENTIALS, CLIENT_TYPES, GRANT_TYPES
from models.users import User


@dataclasses.dataclass
class ApplicationForm:
    """The values typed into the application form, kept for showing it again."""

    name: str = ""
    client_type: str = "confidential"
    grant_types: list[str] = dataclasses.field(default_factory=list)
    #: The text of the Redirect URIs box, one URI per line.
    redirect_uris: str = ""
    #: Row id of the chosen service account as typed, "" for none.
    service_account_id: str = ""
    is_resource_server: bool = False

    @property
    def redirect_uri_lines(self) -> list[str]:
        return [line.strip() for line in self.redirect_uris.splitlines()]


def validate_application_form(
    form: ApplicationForm, service_account: User | None
) -> dict[str, str]:
    """Return an error message per field name; empty when the form is valid.

    ``service_account`` is the user chosen in the User field, or None when
    none was chosen or the id matched no user.
    """
    errors: dict[str, str] = {}
    if not form.name.strip() or len(form.name) > 200:
        errors["name"] = "A name of 1 to 200 characters is required."
    if form.client_type not in CLIENT_TYPES:
        errors["client_type"] = "Choose Confidential or Public."
    if not form.grant_types:
        errors["grant_types"] = "Choose at least one grant type."
    elif not set(form.grant_types) <= set(GRANT_TYPES):
        errors["grant_types"] = "Choose Authorization Code, Client Credentials or both."
    try:
        uris = clean_redirect_uris(form.redirect_uri_lines)
    except ClientError as error:
        errors["redirect_uris"] = _sentence(error.message)
        uris = []
    if form.service_account_id and service_account is None:
        errors["service_account"] = "The chosen user no longer exists."
    elif service_account is not None and not service_account.is_service_account:
        errors["service_account"] = "Choose a service account."
    elif service_account is None and CLIENT_CREDENTIALS in form.grant_types:
        errors["service_account"] = (
            "Client Credentials needs a service account to act as."
        )
    if errors:
        return errors

    # The remaining rules combine fields, such as a public client with
    # client credentials, or authorization code without a redirect URI.
    try:
        validate_client_fields(
            form.name, form.client_type, form.grant_types, uris, service_account
        )
    except ClientError as error:
        errors[error.field] = _sentence(error.message)
    return errors


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."
