"""Admin pages for OAuth 2.0 applications (clients): add, edit, new secret, delete.

The Add Application page generates the Client ID and the Client secret
before anything is saved and shows both, with a warning to copy the secret.
The pair travels back with the form inside a value signed with the cookie
secret, so Save stores exactly what was shown and nothing typed in its place.
Only the digest of the secret is stored.
"""

from __future__ import annotations

import logging

import peewee
import tornado.web

from auth.client_form import ApplicationForm, validate_application_form
from auth.clients import (
    ClientError,
    create_client,
    delete_client,
    generate_client_id,
    rotate_client_secret,
    update_client,
)
from auth.secrets import generate_token
from handlers.admin.base import StaffPageHandler
from handlers.web import PageError, parse_ascii_int
from models.base import database
from models.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    Client,
    query_client,
    query_clients,
)
from models.users import SERVICE_ACCOUNT, User, query_user_by_id, query_users

log = logging.getLogger("integration_gateway.handlers.admin.applications")

GRANT_TYPE_LABELS = {
    AUTHORIZATION_CODE: "Authorization Code",
    CLIENT_CREDENTIALS: "Client Credentials",
}
PENDING_NAME = "new_application"
# The generated pair is accepted back for this long after the form was shown.
PENDING_MAX_AGE_DAYS = 1


class ApplicationPageMixin(StaffPageHandler):
    def load_client(self, client_id: str) -> Client:
        client = query_client(client_id)
        if client is None:
            raise PageError(404, "not_found", "No application has this Client ID.")
        return client

    def read_form(self) -> tuple[ApplicationForm, User | None]:
        """Return the typed form and the service account chosen in it."""
        account_id = self.field("service_account")
        form = ApplicationForm(
            name=self.field("name"),
            client_type=self.field("client_type", "confidential"),
            grant_types=self.get_body_arguments("grant_types"),
            redirect_uris=self.get_body_argument("redirect_uris", ""),
            service_account_id=account_id,
            is_resource_server=self.field("is_resource_server") == "on",
        )
        row_id = parse_ascii_int(account_id)
        account = query_user_by_id(row_id) if row_id is not None else None
        return form, account

    def render_form(self, template: str, status: int = 200, **context: object) -> None:
        self.set_status(status)
        self.render_page(
            template,
            grant_type_labels=GRANT_TYPE_LABELS,
            service_accounts=query_users(SERVICE_ACCOUNT),
            **context,
        )


class ApplicationListHandler(ApplicationPageMixin):
    """``GET /admin/applications``: every registered application."""

    def get(self) -> None:
        self.render_page(
            "admin/applications.html",
            clients=query_clients(),
            grant_type_labels=GRANT_TYPE_LABELS,
            notice=self.notice(),
        )


class ApplicationCreateHandler(ApplicationPageMixin):
    """``/admin/applications/new``: the Add Application page."""

    def get(self) -> None:
        client_id, secret = generate_client_id(), generate_token(32)
        self._render_new(ApplicationForm(), {}, client_id, secret)

    def post(self) -> None:
        form, account = self.read_form()
        pending = self._read_pending()
        if pending is None:
            client_id, secret = generate_client_id(), generate_token(32)
            errors = {
                "client_secret": "The generated credentials expired or were"
                " changed. New ones were generated: copy the new secret."
            }
            self._render_new(form, errors, client_id, secret, 422)
            return
        client_id, secret = pending
        errors = validate_application_form(form, account)
        if errors:
            self._render_new(form, errors, client_id, secret, 422)
            return
        if query_client(client_id) is not None:
            # The same form was submitted twice; the first Save stored it.
            self.redirect(f"/admin/applications/{client_id}", status=303)
            return
        try:
            self._create(form, account, client_id, secret)
        except ClientError as error:
            self._render_new(form, {error.field: error.message}, client_id, secret, 422)
            return
        except peewee.IntegrityError:
            self.redirect(f"/admin/applications/{client_id}", status=303)
            return
        self.redirect(f"/admin/applications/{client_id}?notice=created", status=303)

    def _create(
        self, form: ApplicationForm, account: User | None, client_id: str, secret: str
    ) -> None:
        with database.atomic():
            client, _ = create_client(
                self.gateway.client_secret_key,
                name=form.name,
                client_type=form.client_type,
                grant_types=form.grant_types,
                redirect_uris=form.redirect_uri_lines,
                service_account=account,
                created_by=self.staff,
                is_resource_server=form.is_resource_server,
                client_id=client_id,
                client_secret=secret,
            )
            self.audit(
                "client.create",
                client.client_id,
                f"name: {client.name}",
                client_id=client.client_id,
            )
        log.info(
            "%s created client %s request_id=%s",
            self.staff.username,
            client.client_id,
            self.request_id,
        )

    def _read_pending(self) -> tuple[str, str] | None:
        value = tornado.web.decode_signed_value(
            self.application.settings["cookie_secret"],
            PENDING_NAME,
            self.get_body_argument("pending", ""),
            max_age_days=PENDING_MAX_AGE_DAYS,
        )
        if value is None:
            return None
        client_id, _, secret = value.decode("ascii", "replace").partition("|")
        return (client_id, secret) if client_id and secret else None

    def _render_new(
        self,
        form: ApplicationForm,
        errors: dict[str, str],
        client_id: str,
        secret: str,
        status: int = 200,
    ) -> None:
        pending = self.create_signed_value(PENDING_NAME, f"{client_id}|{secret}")
        self.render_form(
            "admin/application_new.html",
            status,
            form=form,
            errors=errors,
            client_id=client_id,
            client_secret=secret,
            pending=pending.decode("ascii"),
        )


class ApplicationHandler(ApplicationPageMixin):
    """``/admin/applications/<client_id>``: show and edit one application."""

    def get(self, client_id: str) -> None:
        client = self.load_client(client_id)
        form = ApplicationForm(
            name=client.name,
            client_type=client.client_type,
            grant_types=client.grant_type_list,
            redirect_uris="\n".join(client.redirect_uri_list),
            service_account_id=str(client.service_account_id or ""),
            is_resource_server=client.is_resource_server,
        )
        self._render_edit(client, form, {})

    def post(self, client_id: str) -> None:
        client = self.load_client(client_id)
        form, account = self.read_form()
        form.client_type = client.client_type
        errors = validate_application_form(form, account)
        if errors:
            self._render_edit(client, form, errors, 422)
            return
        with database.atomic():
            revoked = update_client(
                client,
                name=form.name,
                grant_types=form.grant_types,
                redirect_uris=form.redirect_uri_lines,
                service_account=account,
                is_resource_server=form.is_resource_server,
            )
            detail = f"name: {client.name}; grant types: {client.grant_types}"
            if revoked:
                detail += f"; access tokens revoked: {revoked}"
            self.audit("client.update", client.client_id, detail, client_id=client_id)
        self.redirect(f"/admin/applications/{client_id}?notice=saved", status=303)

    def _render_edit(
        self,
        client: Client,
        form: ApplicationForm,
        errors: dict[str, str],
        status: int = 200,
    ) -> None:
        self.render_form(
            "admin/application.html",
            status,
            client=client,
            form=form,
            errors=errors,
            notice=self.notice(),
        )


class ApplicationSecretHandler(ApplicationPageMixin):
    """``POST /admin/applications/<client_id>/secret``: a new secret, shown once."""

    def post(self, client_id: str) -> None:
        client = self.load_client(client_id)
        if not client.is_confidential:
            raise PageError(
                400, "invalid_request", "A public application has no client secret."
            )
        with database.atomic():
            secret = rotate_client_secret(self.gateway.client_secret_key, client)
            self.audit(
                "client.rotate_secret",
                client.client_id,
                f"name: {client.name}",
                client_id=client.client_id,
            )
        self.render_page("admin/application_secret.html", client=client, secret=secret)


class ApplicationDeleteHandler(ApplicationPageMixin):
    """``POST /admin/applications/<client_id>/delete``: delete and revoke tokens."""

    def post(self, client_id: str) -> None:
        client = self.load_client(client_id)
        if self.field("confirm") != "on":
            raise PageError(
                400,
                "invalid_request",
                "Tick the confirmation box to delete the application.",
            )
        with database.atomic():
            revoked = delete_client(client)
            self.audit(
                "client.delete",
                client.client_id,
                f"name: {client.name}; access tokens revoked: {revoked}",
                client_id=client.client_id,
            )
        self.redirect("/admin/applications?notice=deleted", status=303)
