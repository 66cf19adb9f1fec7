"""Assembly of the Tornado application: routes, settings, background tasks.

``serve`` runs the gateway until SIGINT or SIGTERM; tests build the same
application with ``make_app``.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
import signal

import tornado.httpserver
import tornado.ioloop
import tornado.web

import models
from auth.basic_auth import KNOWN_ADDRESS_DAYS
from auth.log_text import clip_for_log
from config import Settings, redact_database_url
from handlers import tornado_fast_paths
from handlers.account import AccountHandler
from handlers.admin import admin_routes
from handlers.authorize import AuthorizeHandler, RevokeAuthorizationHandler
from handlers.body_limit import BodyLimitApplication
from handlers.gateway import Gateway, build_gateway
from handlers.health import HealthHandler
from handlers.integrations import IntegrationExecuteHandler, IntegrationListHandler
from handlers.log_output import AccessLog
from handlers.login import LoginHandler, LogoutHandler
from handlers.oauth import (
    IntrospectionHandler,
    JWKSHandler,
    MetadataHandler,
    RevocationHandler,
    TokenHandler,
)
from handlers.web import (
    LOGIN_URL,
    STATIC_DIR,
    NotFoundPageHandler,
    StaticHandler,
    build_template_environment,
    xsrf_cookie_name,
)
from models.base import utcnow
from models.codes import delete_expired_codes
from models.known_addresses import delete_old_known_addresses
from models.login_failures import delete_old_login_failures
from models.refresh_tokens import delete_expired_refresh_tokens
from models.secret_rotations import NONCE_LIFETIME_DAYS, delete_old_secret_rotations
from models.sessions import delete_old_sessions
from models.tokens import delete_expired_tokens
from plugins.loader import IntegrationRegistry, load_integrations

log = logging.getLogger("integration_gateway.server")
access_log = AccessLog(logging.getLogger("integration_gateway.access"))

ACCESS_LOG_FORMAT = "%d %s %s (%s) %.2fms request_id=%s"
HOUSEKEEPING_INTERVAL_SECONDS = 60
CHECKPOINT_INTERVAL_SECONDS = 1


def make_routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    return [
        (r"/healthz", HealthHandler),
        (r"/integrations/?", IntegrationListHandler),
        (r"/integrations/execute/([^/]+)/?", IntegrationExecuteHandler),
        (r"/o/token/?", TokenHandler),
        (r"/o/jwks/?", JWKSHandler),
        (r"/o/authorize/?", AuthorizeHandler),
        (r"/o/revoke/?", RevocationHandler),
        (r"/o/introspect/?", IntrospectionHandler),
        (r"/\.well-known/oauth-authorization-server", MetadataHandler),
        (r"/", AccountHandler),
        (r"/login", LoginHandler),
        (r"/logout", LogoutHandler),
        (r"/authorizations/revoke", RevokeAuthorizationHandler),
        *admin_routes(),
    ]


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Write one access-log line: no query string and no headers."""
    status = handler.get_status()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.logger.isEnabledFor(level):
        request = handler.request
        args = (
            status,
            request.method,
            clip_for_log(request.path),
            request.remote_ip,
            1000.0 * request.request_time(),
            getattr(handler, "request_id", "-"),
        )
        access_log.write(level, ACCESS_LOG_FORMAT, args)


def make_app(gateway: Gateway) -> BodyLimitApplication:
    """Build the Tornado application around ``gateway``."""
    tornado_fast_paths.install()
    secure = gateway.settings.secure_cookies
    return BodyLimitApplication(
        make_routes(),
        max_body_bytes=gateway.settings.max_body_bytes,
        gateway=gateway,
        cookie_secret=gateway.cookie_secret,
        # Forms of the pages carry Tornado's xsrf token. The partner API and
        # the OAuth endpoints opt out in check_xsrf_cookie, because they carry
        # credentials of their own and no cookie.
        xsrf_cookies=True,
        xsrf_cookie_name=xsrf_cookie_name(secure),
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax", "secure": secure},
        login_url=LOGIN_URL,
        template_environment=build_template_environment(),
        static_path=str(STATIC_DIR),
        static_handler_class=StaticHandler,
        default_handler_class=NotFoundPageHandler,
        log_function=log_request,
        compress_response=False,
    )


def open_gateway(settings: Settings, registry: IntegrationRegistry) -> Gateway:
    """Open and upgrade the database, then assemble the gateway."""
    models.open_database(settings.database_url, background_checkpoints=True)
    models.migrate()
    return build_gateway(settings, registry)


class SqliteCheckpointer:
    """Copies the SQLite write-ahead log into the database file in a thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.running = False

    def start(self) -> tornado.ioloop.PeriodicCallback:
        callback = tornado.ioloop.PeriodicCallback(
            self._schedule, CHECKPOINT_INTERVAL_SECONDS * 1000
        )
        callback.start()
        return callback

    def _schedule(self) -> None:
        if self.running:
            return
        self.running = True
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, models.base.checkpoint_sqlite, self.path)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[int]) -> None:
        self.running = False
        error = future.exception()
        if error is not None:
            log.warning("SQLite checkpoint of %s failed: %s", self.path, error)


#: Tornado zeroes a fresh buffer of this size for every socket read, and a
#: request usually takes two reads. Its default of 64 KiB is more than a
#: request needs.
READ_CHUNK_BYTES = 16 * 1024

#: Expired codes and tokens are kept this long before deletion, so that a
#: replayed code or refresh token still finds its record and revokes its grant.
EXPIRED_RECORD_RETENTION = datetime.timedelta(minutes=10)


def run_housekeeping(gateway: Gateway) -> None:
    """Pick up rotated signing keys, then delete a batch of expired records.

    Each kind of record loses at most one batch (500 rows) per run, so a
    backlog is worked off over several runs without a long pause.
    """
    try:
        gateway.keys.load()
        gateway.keys.delete_expired_keys()
        cutoff = utcnow() - EXPIRED_RECORD_RETENTION
        deleted = {
            "access tokens": delete_expired_tokens(cutoff),
            "authorization codes": delete_expired_codes(cutoff),
            "refresh tokens": delete_expired_refresh_tokens(cutoff),
            "web sessions": delete_old_sessions(utcnow()),
            "failed logins": delete_old_login_failures(
                utcnow()
                - datetime.timedelta(
                    seconds=gateway.settings.login_throttle_window_seconds
                )
            ),
            "known addresses": delete_old_known_addresses(
                utcnow() - datetime.timedelta(days=KNOWN_ADDRESS_DAYS)
            ),
            "secret rotation nonces": delete_old_secret_rotations(
                utcnow() - datetime.timedelta(days=NONCE_LIFETIME_DAYS)
            ),
        }
    except models.base.DATABASE_ERRORS as error:
        log.warning("housekeeping skipped, database error: %s", error)
        models.base.reset_connection()
        return
    for kind, count in deleted.items():
        if count:
            log.info("housekeeping deleted %d expired %s", count, kind)


async def serve(settings: Settings) -> None:
    registry = load_integrations()
    gateway = open_gateway(settings, registry)
    app = make_app(gateway)
    server = tornado.httpserver.HTTPServer(
        app,
        xheaders=settings.trust_proxy_headers,
        # The application checks this limit first and sends 413, so Tornado's
        # own check, which ends a request with a bare 400, is only a backstop.
        max_body_size=settings.max_body_bytes,
        chunk_size=READ_CHUNK_BYTES,
    )
    server.listen(settings.port, settings.host)
    housekeeping = tornado.ioloop.PeriodicCallback(
        lambda: run_housekeeping(gateway), HOUSEKEEPING_INTERVAL_SECONDS * 1000
    )
    housekeeping.start()
    checkpoints = None
    sqlite_file = models.base.sqlite_path(settings.database_url)
    if sqlite_file is not None:
        checkpoints = SqliteCheckpointer(sqlite_file).start()

    log.info(
        "integration-gateway listening on http://%s:%d (issuer %s, database %s,"
        " %d integrations, %d failed plugins)",
        settings.host,
        settings.port,
        settings.issuer_url,
        redact_database_url(settings.database_url),
        len(registry.loaded),
        len(registry.failed),
    )
    print(_next_steps(settings), flush=True)

    # The modules, plugins and settings loaded so far live as long as the
    # process. Frozen, they are left out of the cyclic garbage collector's
    # full passes, which otherwise walk all of them while requests wait.
    gc.collect()
    gc.freeze()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    log.info("integration-gateway stopping")
    housekeeping.stop()
    if checkpoints is not None:
        checkpoints.stop()
    server.stop()
    await server.close_all_connections()
    gateway.close()
    models.database.close()


def _next_steps(settings: Settings) -> str:
    base = settings.issuer_url
    return (
        f"\nintegration-gateway is running at {base}\n"
        "Next steps, in another terminal:\n"
        "  .venv/bin/python server.py create-user partner-sa --service-account\n"
        "  .venv/bin/python server.py grant partner-sa echo\n"
        f"  curl -u partner-sa:PASSWORD -X POST {base}/integrations/execute/echo"
        ' -d \'{"hello": "world"}\'\n'
        "  .venv/bin/python server.py create-user admin --staff"
        f"   # then log in at {base}/login\n"
        "See README.md for OAuth clients and the other commands. Ctrl-C stops.\n"
    )
