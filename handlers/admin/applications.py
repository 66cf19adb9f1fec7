"""Admin pages for OAuth 2.0 applications (clients): add, edit, new secret, delete.

The Add Application page is shown for one client type, chosen first. It
generates the Client ID, and for a confidential client the Client secret,
before anything is saved and shows them, with a warning to copy the secret.
They travel back with the form, with the client type, inside a value signed
with the cookie secret, so Save stores exactly what was shown and nothing
typed in its place. Only the digest of the secret is stored.
"""

from __future__ import annotations

import dataclasses
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
    CLIENT_TYPES,
    CONFIDENTIAL,
    Client,
    query_client,
    query_clients,
)
from models.secret_rotations import (
    NONCE_LIFETIME_DAYS,
    SecretRotation,
    query_secret_rotation,
)
from models.users import SERVICE_ACCOUNT, User, query_user_by_id, query_users

log = logging.getLogger("integration_gateway.handlers.admin.applications")

GRANT_TYPE_LABELS = {
    AUTHORIZATION_CODE: "Authorization Code",
    CLIENT_CREDENTIALS: "Client Credentials",
}
PENDING_NAME = "new_application"
# The generated credentials are accepted back for this long after the form
# was shown.
PENDING_MAX_AGE_DAYS = 1
SECRET_NONCE_NAME = "client_secret_nonce"  # noqa: S105 - a name, not a secret


@dataclasses.dataclass(frozen=True)
class PendingApplication:
    """The generated credentials shown on an Add Application page."""

    client_id: str
    client_type: str
    #: Empty for a public client, which gets no secret.
    client_secret: str

    @classmethod
    def generate(cls, client_type: str) -> PendingApplication:
        secret = generate_token(32) if client_type == CONFIDENTIAL else ""
        return cls(generate_client_id(), client_type, secret)

    def encode(self) -> str:
        # Client ids are letters and digits, secrets URL-safe base64 and
        # types fixed words, so "|" cannot occur inside a part.
        return f"{self.client_id}|{self.client_type}|{self.client_secret}"

    @classmethod
    def decode(cls, value: str) -> PendingApplication | None:
        parts = value.split("|")
        if len(parts) != 3:
            return None
        client_id, client_type, secret = parts
        if not client_id or client_type not in CLIENT_TYPES:
            return None
        if (client_type == CONFIDENTIAL) != bool(secret):
            return None
        return cls(client_id, client_type, secret)


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

    def create_secret_nonce(self, client: Client) -> str:
        """Create a signed single-use nonce for the New secret form of ``client``."""
        value = f"{client.client_id}|{generate_token(32)}"
        return self.create_signed_value(SECRET_NONCE_NAME, value).decode("ascii")

    def read_secret_nonce(self, client: Client) -> str:
        """Verify the signed nonce of the submitted New secret form and return it.

        Raises a 400 :class:`PageError` when the nonce is missing, expired,
        changed, or made for another client.
        """
        value = tornado.web.decode_signed_value(
            self.application.settings["cookie_secret"],
            SECRET_NONCE_NAME,
            self.get_body_argument("nonce", ""),
            max_age_days=NONCE_LIFETIME_DAYS,
        )
        client_id, _, nonce = (value or b"").decode("ascii", "replace").partition("|")
        if client_id != client.client_id or not nonce:
            raise PageError(
                400,
                "invalid_request",
                "The New secret form has expired or was changed, so the secret"
                " was not replaced. Open the application page again and"
                " generate the secret there.",
            )
        return nonce

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
        client_type = self.get_query_argument("client_type", CONFIDENTIAL)
        if client_type not in CLIENT_TYPES:
            client_type = CONFIDENTIAL
        form = ApplicationForm(client_type=client_type)
        self._render_new(form, {}, PendingApplication.generate(client_type))

    def post(self) -> None:
        form, account = self.read_form()
        pending = self._read_pending()
        if pending is None:
            client_type = form.client_type
            if client_type not in CLIENT_TYPES:
                client_type = CONFIDENTIAL
            form.client_type = client_type
            errors = {
                "client_id": "The generated credentials expired or were"
                " changed. New ones were generated: copy them again."
            }
            pending = PendingApplication.generate(client_type)
            self._render_new(form, errors, pending, 422)
            return
        # The type is the one the page was generated for, not a form field.
        form.client_type = pending.client_type
        errors = validate_application_form(form, account)
        if errors:
            self._render_new(form, errors, pending, 422)
            return
        client_id = pending.client_id
        if query_client(client_id) is not None:
            # The same form was submitted twice; the first Save stored it.
            self.redirect(f"/admin/applications/{client_id}", status=303)
            return
        try:
            self._create(form, account, pending)
        except ClientError as error:
            self._render_new(form, {error.field: error.message}, pending, 422)
            return
        except peewee.IntegrityError:
            self.redirect(f"/admin/applications/{client_id}", status=303)
            return
        self.redirect(f"/admin/applications/{client_id}?notice=created", status=303)

    def _create(
        self, form: ApplicationForm, account: User | None, pending: PendingApplication
    ) -> None:
        with database.atomic():
            client, _ = create_client(
                self.gateway.client_secret_key,
                name=form.name,
                client_type=pending.client_type,
                grant_types=form.grant_types,
                redirect_uris=form.redirect_uri_lines,
                service_account=account,
                created_by=self.staff,
                is_resource_server=form.is_resource_server,
                client_id=pending.client_id,
                client_secret=pending.client_secret or None,
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

    def _read_pending(self) -> PendingApplication | None:
        value = tornado.web.decode_signed_value(
            self.application.settings["cookie_secret"],
            PENDING_NAME,
            self.get_body_argument("pending", ""),
            max_age_days=PENDING_MAX_AGE_DAYS,
        )
        if value is None:
            return None
        return PendingApplication.decode(value.decode("ascii", "replace"))

    def _render_new(
        self,
        form: ApplicationForm,
        errors: dict[str, str],
        pending: PendingApplication,
        status: int = 200,
    ) -> None:
        signed = self.create_signed_value(PENDING_NAME, pending.encode())
        self.render_form(
            "admin/application_new.html",
            status,
            form=form,
            errors=errors,
            client_id=pending.client_id,
            client_secret=pending.client_secret,
            pending=signed.decode("ascii"),
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
        secret_nonce = ""
        if client.is_confidential:
            secret_nonce = self.create_secret_nonce(client)
        self.render_form(
            "admin/application.html",
            status,
            client=client,
            form=form,
            errors=errors,
            notice=self.notice(),
            secret_nonce=secret_nonce,
        )


class ApplicationSecretHandler(ApplicationPageMixin):
    """``POST /admin/applications/<client_id>/secret``: a new secret, shown once.

    Each form carries a single-use nonce. A second submission of the same
    form, such as a reload of the page that showed the secret, rotates
    nothing and shows that the secret was already replaced.
    """

    def post(self, client_id: str) -> None:
        client = self.load_client(client_id)
        if not client.is_confidential:
            raise PageError(
                400, "invalid_request", "A public application has no client secret."
            )
        nonce = self.read_secret_nonce(client)
        earlier = query_secret_rotation(nonce)
        outcome = earlier if earlier is not None else self._rotate(client, nonce)
        if isinstance(outcome, SecretRotation):
            self._render_replaced(client, outcome)
            return
        self.render_page("admin/application_secret.html", client=client, secret=outcome)

    def _rotate(self, client: Client, nonce: str) -> str | SecretRotation:
        """Rotate the secret, record ``nonce`` and return the new secret.

        When a parallel submission of the same form recorded ``nonce`` first,
        nothing changes and that submission's rotation is returned.
        """
        try:
            with database.atomic():
                # The nonce is unique and goes in first, so the second of two
                # parallel submissions fails here and rotates nothing.
                SecretRotation.create(
                    nonce=nonce, client=client, rotated_by=self.staff.username
                )
                secret = rotate_client_secret(self.gateway.client_secret_key, client)
                self.audit(
                    "client.rotate_secret",
                    client.client_id,
                    f"name: {client.name}",
                    client_id=client.client_id,
                )
        except peewee.IntegrityError:
            rotation = query_secret_rotation(nonce)
            if rotation is None:
                # The nonce is unused, so the insert failed on its foreign key
                # because the client was deleted meanwhile.
                raise PageError(
                    404, "not_found", "No application has this Client ID."
                ) from None
            return rotation
        return secret

    def _render_replaced(self, client: Client, rotation: SecretRotation) -> None:
        log.info(
            "%s submitted a used secret form of client %s, nothing rotated"
            " request_id=%s",
            self.staff.username,
            client.client_id,
            self.request_id,
        )
        # The status is 200, because a reload is an expected and harmless request.
        self.render_page(
            "admin/application_secret_replaced.html",
            client=client,
            rotation=rotation,
            secret_nonce=self.create_secret_nonce(client),
        )


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
