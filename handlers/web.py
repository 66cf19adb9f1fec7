"""The base of the HTML pages: sessions, templates, security headers, error pages.

Pages render Jinja2 templates from ``templates/`` with autoescape on and link
only the stylesheet under ``static/``. Every page response carries a
Content-Security-Policy without script, so an injected ``<script>`` cannot run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import tornado.web

from handlers.base import ApiError, BaseHandler, _error_code
from models.base import DATABASE_ERRORS
from models.sessions import WebSession
from models.users import User

log = logging.getLogger("integration_gateway.handlers.web")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

LOGIN_URL = "/login"
HOME_PATH = "/"
STAFF_HOME_PATH = "/admin/"

# No script at all; styles and images only from this origin. form-action is
# left out on purpose: Chromium applies it to the redirect that follows a form
# POST, which would block the OAuth consent form's redirect to a client.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none';"
    " frame-ancestors 'none'"
)

# Title and explanation of the error pages, by status.
ERROR_PAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Forbidden", "You do not have access to this page."),
    404: ("Page not found", "There is no page at this address."),
    405: ("Method not allowed", "This page does not accept that request method."),
    413: ("Content too large", "The request body is larger than the gateway accepts."),
    429: ("Too many requests", "Too many attempts; wait and try again."),
    500: ("Server error", "The gateway could not complete the request."),
    503: ("Service unavailable", "The gateway cannot serve this page right now."),
}


class PageError(ApiError):
    """An error shown as an HTML page; ``description`` is the text on the page."""


def parse_ascii_int(value: str, max_digits: int = 11) -> int | None:
    """Parse a non-negative integer of 1 to ``max_digits`` ASCII digits.

    Returns None for anything else. ``str.isdigit`` alone would accept digits
    such as "²" that ``int`` rejects, and ``int`` alone accepts signs, spaces,
    underscores and digits of other scripts.
    """
    if not value.isascii() or not value.isdigit() or len(value) > max_digits:
        return None
    return int(value)


def build_template_environment() -> jinja2.Environment:
    """Create the Jinja2 environment of the pages, with autoescape on."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def session_cookie_name(secure: bool) -> str:
    # The __Host- prefix makes browsers accept the cookie only when it is
    # Secure, host-only and for path /, so a sibling domain cannot plant it.
    return "__Host-gateway_session" if secure else "gateway_session"


def xsrf_cookie_name(secure: bool) -> str:
    return "__Host-gateway_xsrf" if secure else "gateway_xsrf"


class PageHandler(BaseHandler):
    """Base of the HTML pages.

    ``current_user`` is the :class:`User` of a live session or None, so
    ``@tornado.web.authenticated`` sends anonymous GETs to the login page with
    ``next`` set. POSTs must carry the xsrf token (Tornado's ``_xsrf`` field).
    """

    #: A subclass may narrow or extend the policy for its own pages.
    content_security_policy = CONTENT_SECURITY_POLICY
    #: The live session of the request, once ``current_user`` was read.
    session: WebSession | None = None

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", self.content_security_policy)
        # Pages show personal data and carry xsrf tokens: never cache them.
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> str | None:
        # Pages are never cached (no-store), so an ETag would only cost a hash.
        return None

    def check_xsrf_cookie(self) -> None:
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError as error:
            raise PageError(
                403,
                "xsrf_failed",
                "The form was not sent from a page of this gateway, or it has"
                " expired. Reload the page and submit the form again.",
                log_detail=error.log_message or "xsrf check failed",
            ) from None

    @property
    def session_cookie(self) -> str:
        return session_cookie_name(self.gateway.settings.secure_cookies)

    def read_session_id(self) -> str | None:
        """Return the session id of a validly signed session cookie, or None."""
        max_age_days = self.gateway.settings.session_absolute_lifetime_seconds / 86400
        value = self.get_signed_cookie(self.session_cookie, max_age_days=max_age_days)
        if value is None:
            return None
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None

    def get_current_user(self) -> User | None:
        session_id = self.read_session_id()
        if session_id is None:
            return None
        session = self.gateway.sessions.resolve(session_id)
        if session is None:
            return None
        self.session = session
        user: User = session.user
        return user

    def home_path(self, user: User) -> str:
        """Return the page a user lands on after logging in."""
        return STAFF_HOME_PATH if user.is_staff else HOME_PATH

    def set_session_cookie(self, session_id: str) -> None:
        # No expiry: the browser drops it when it closes, and the server ends
        # the session at its idle or absolute expiry either way.
        self.set_signed_cookie(
            self.session_cookie,
            session_id,
            expires_days=None,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.gateway.settings.secure_cookies,
        )

    def clear_session_cookie(self) -> None:
        self.clear_cookie(
            self.session_cookie,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.gateway.settings.secure_cookies,
        )

    def template_context(self) -> dict[str, Any]:
        """Return the values every template receives."""
        return {
            # Read only when computed already, so that an error page shown
            # after a database error does not query the database again.
            "current_user": self.__dict__.get("_current_user"),
            "xsrf_form_html": self._xsrf_form_markup,
            "static_url": self.static_url,
            "request_id": self.request_id,
            "request_path": self.request.path,
        }

    def _xsrf_form_markup(self) -> markupsafe.Markup:
        # Tornado escapes the token inside the hidden input it builds.
        return markupsafe.Markup(self.xsrf_form_html())  # noqa: S704

    def render_page(self, template_name: str, **context: Any) -> None:
        """Render ``templates/template_name`` and finish the response with it."""
        self.current_user  # noqa: B018 - reads the session for the layout
        self._render_template(template_name, context)

    def _render_template(self, template_name: str, context: dict[str, Any]) -> None:
        environment: jinja2.Environment = self.settings["template_environment"]
        template = environment.get_template(template_name)
        values = self.template_context()
        values.update(context)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(template.render(**values))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error_value = kwargs.get("exc_info", (None, None, None))[1]
        title, message = ERROR_PAGES.get(status_code, ERROR_PAGES[500])
        if isinstance(error_value, ApiError):
            for name, value in error_value.headers.items():
                values = value if isinstance(value, list) else [value]
                for item in values:
                    self.add_header(name, item)
            message = error_value.description
        elif isinstance(error_value, DATABASE_ERRORS):
            status_code = 503
            self.set_status(503)
            self.set_header("Retry-After", "5")
            title, message = ERROR_PAGES[503]
        elif status_code not in ERROR_PAGES:
            title = ERROR_PAGES[500][0] if status_code >= 500 else "Error"
            message = self._reason
        error = getattr(error_value, "error", None) or _error_code(status_code)
        context = {
            "status_code": status_code,
            "title": title,
            "message": message,
            "error": error,
        }
        try:
            if not isinstance(error_value, DATABASE_ERRORS):
                self.current_user  # noqa: B018 - shows the layout's navigation
            self._render_template("error.html", context)
        except Exception:
            log.exception("error page failed to render request_id=%s", self.request_id)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(f"{status_code} {title}\nrequest id: {self.request_id}\n")


class StaticHandler(tornado.web.StaticFileHandler, PageHandler):
    """Serves ``static/``, with the pages' error pages for its 404 and 403.

    Tornado routes ``/static/...``, ``/favicon.ico`` and ``/robots.txt`` here.
    """

    def set_default_headers(self) -> None:
        # The files get the request id and the security headers of every
        # response. The page policy and no-store are for the error pages only,
        # so that browsers may cache the stylesheet.
        BaseHandler.set_default_headers(self)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Security-Policy", self.content_security_policy)
        self.set_header("Cache-Control", "no-store")
        PageHandler.write_error(self, status_code, **kwargs)


class NegotiatedErrorHandler(PageHandler):
    """Base of error-only handlers: an HTML page for browsers, JSON for API clients."""

    def check_xsrf_cookie(self) -> None:
        # Nothing happens here, so a POST gets its error and not a 403.
        return

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if "text/html" in self.request.headers.get("Accept", ""):
            super().write_error(status_code, **kwargs)
        else:
            self.clear_header("Content-Security-Policy")
            BaseHandler.write_error(self, status_code, **kwargs)


class NotFoundPageHandler(NegotiatedErrorHandler):
    """Respond to unknown paths: an HTML page for browsers, JSON for API clients."""

    def prepare(self) -> None:
        raise PageError(404, "not_found", "No resource at this path.")
