"""integration-gateway: the command line and the assembly of the Tornado app.

``python server.py`` serves; the other commands set the gateway up. Every
command exits non-zero with a one-line message when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import tornado.httpserver
import tornado.ioloop
import tornado.web

import models
from auth.basic_auth import KNOWN_ADDRESS_DAYS
from auth.clients import ClientError, create_client, delete_client
from auth.keys import create_signing_key
from auth.log_text import clip_for_log
from auth.passwords import (
    PasswordError,
    PasswordHasher,
    generate_password,
    validate_new_password,
)
from auth.revocation import revoke_user_tokens
from config import Settings, SettingsError, load_settings, redact_database_url
from handlers.account import AccountHandler
from handlers.admin import admin_routes
from handlers.authorize import AuthorizeHandler, RevokeAuthorizationHandler
from handlers.gateway import Gateway, build_gateway
from handlers.health import HealthHandler
from handlers.integrations import IntegrationExecuteHandler, IntegrationListHandler
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
from models.audit import SUCCESS, record_event
from models.base import utcnow
from models.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client, query_client
from models.codes import delete_expired_codes
from models.known_addresses import delete_old_known_addresses
from models.login_failures import delete_old_login_failures
from models.refresh_tokens import delete_expired_refresh_tokens
from models.sessions import delete_old_sessions
from models.tokens import delete_expired_tokens
from models.users import (
    EXECUTE,
    PERMISSIONS,
    SERVICE_ACCOUNT,
    STAFF,
    STANDARD,
    UserError,
    create_user,
    grant_permission,
    query_user,
    revoke_permission,
    set_active,
    validate_permission,
)
from plugins.loader import IntegrationRegistry, load_integrations

log = logging.getLogger("integration_gateway.server")
access_log = logging.getLogger("integration_gateway.access")

HOUSEKEEPING_INTERVAL_SECONDS = 60
CHECKPOINT_INTERVAL_SECONDS = 1
CLI_ACTOR = "cli"


class CommandError(Exception):
    """A command cannot complete; the message is printed as one line."""


# Application assembly


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
    if access_log.isEnabledFor(level):
        request = handler.request
        access_log.log(
            level,
            "%d %s %s (%s) %.2fms request_id=%s",
            status,
            request.method,
            clip_for_log(request.path),
            request.remote_ip,
            1000.0 * request.request_time(),
            getattr(handler, "request_id", "-"),
        )


def make_app(gateway: Gateway) -> tornado.web.Application:
    """Build the Tornado application around ``gateway``."""
    secure = gateway.settings.secure_cookies
    return tornado.web.Application(
        make_routes(),
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
        max_body_size=settings.max_body_bytes,
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
        "See README.md for OAuth clients and the other commands. Ctrl-C stops.\n"
    )


# Operator commands


def _open_for_command(settings: Settings) -> None:
    models.open_database(settings.database_url)
    models.migrate()


def _audit(action: str, target: str, detail: str | None = None) -> None:
    record_event(
        action,
        SUCCESS,
        actor=CLI_ACTOR,
        auth_method=CLI_ACTOR,
        target=target,
        detail=detail,
    )


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    return None


def command_create_user(args: argparse.Namespace, settings: Settings) -> int:
    kind = (
        SERVICE_ACCOUNT if args.service_account else STAFF if args.staff else STANDARD
    )
    password = _read_password(args)
    generated = False
    if password is None:
        if kind == SERVICE_ACCOUNT:
            password, generated = generate_password(), True
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.name}: ")
            if password != getpass.getpass("Repeat the password: "):
                raise CommandError("the passwords do not match")
        else:
            raise CommandError(
                "a password is required: pass --password-stdin and write it to"
                " standard input"
            )
    try:
        validate_new_password(password)
    except PasswordError as error:
        raise CommandError(str(error)) from None

    _open_for_command(settings)
    password_hash = PasswordHasher(settings.bcrypt_rounds).hash_now(password)
    try:
        with models.database.atomic():
            user = create_user(args.name, kind, password_hash, vendor=args.vendor)
            _audit("user.create", user.username, f"kind: {kind}")
    except UserError as error:
        raise CommandError(str(error)) from None

    if args.json:
        output: dict[str, Any] = {"username": user.username, "kind": kind}
        if generated:
            output["password"] = password
        print(json.dumps(output))
    else:
        print(f"created {kind.replace('_', ' ')} {user.username}")
        if generated:
            print(f"password (shown once, store it now): {password}")
    return 0


def _require_user(name: str) -> Any:
    user = query_user(name)
    if user is None:
        raise CommandError(f"user {name!r} not found")
    return user


def _change_permission(
    args: argparse.Namespace, settings: Settings, grant: bool
) -> int:
    registry = load_integrations()
    _open_for_command(settings)
    user = _require_user(args.name)
    if grant and registry.get(args.integration) is None:
        known = ", ".join(registry.names()) or "none"
        raise CommandError(
            f"integration {args.integration!r} is not loaded (loaded: {known})"
        )
    try:
        with models.database.atomic():
            if grant:
                validate_permission(user, args.permission)
                changed = grant_permission(user, args.integration, args.permission)
            else:
                changed = revoke_permission(user, args.integration, args.permission)
            if changed:
                action = "permission.grant" if grant else "permission.revoke"
                _audit(
                    action, user.username, f"{args.permission} on {args.integration}"
                )
    except UserError as error:
        raise CommandError(str(error)) from None

    verb = "granted" if grant else "revoked"
    if not changed:
        state = "already holds" if grant else "does not hold"
        print(f"{user.username} {state} {args.permission} on {args.integration}")
    else:
        print(f"{verb} {args.permission} on {args.integration} for {user.username}")
    return 0


def command_grant(args: argparse.Namespace, settings: Settings) -> int:
    return _change_permission(args, settings, grant=True)


def command_revoke(args: argparse.Namespace, settings: Settings) -> int:
    return _change_permission(args, settings, grant=False)


def _set_active(args: argparse.Namespace, settings: Settings, active: bool) -> int:
    _open_for_command(settings)
    user = _require_user(args.name)
    with models.database.atomic():
        set_active(user, active)
        revoked = 0
        if not active:
            revoked = revoke_user_tokens(user.id).total
        _audit("user.activate" if active else "user.deactivate", user.username)
    state = "activated" if active else f"deactivated ({revoked} tokens revoked)"
    print(f"{user.username} {state}")
    return 0


def command_activate_user(args: argparse.Namespace, settings: Settings) -> int:
    return _set_active(args, settings, active=True)


def command_deactivate_user(args: argparse.Namespace, settings: Settings) -> int:
    return _set_active(args, settings, active=False)


_GRANT_TYPE_NAMES = {
    "client-credentials": CLIENT_CREDENTIALS,
    "authorization-code": AUTHORIZATION_CODE,
}


def command_create_app(args: argparse.Namespace, settings: Settings) -> int:
    from auth.clients import CLIENT_SECRET_KEY
    from models.state import ensure_secret

    _open_for_command(settings)
    service_account = _require_user(args.user) if args.user else None
    grant_types = [_GRANT_TYPE_NAMES[name] for name in args.grant_type]
    try:
        with models.database.atomic():
            client, secret = create_client(
                ensure_secret(CLIENT_SECRET_KEY),
                name=args.name,
                client_type=args.client_type,
                grant_types=grant_types,
                redirect_uris=args.redirect_uri or [],
                service_account=service_account,
                is_resource_server=args.resource_server,
            )
            _audit("client.create", client.client_id, f"name: {client.name}")
    except ClientError as error:
        raise CommandError(f"{error.field}: {error.message}") from None

    if args.json:
        print(json.dumps({"client_id": client.client_id, "client_secret": secret}))
    else:
        print(f"client_id: {client.client_id}")
        if secret:
            print(f"client_secret (shown once, store it now): {secret}")
        else:
            print("public client: no secret; use PKCE")
    return 0


def command_delete_app(args: argparse.Namespace, settings: Settings) -> int:
    _open_for_command(settings)
    client: Client | None = query_client(args.client_id)
    if client is None:
        raise CommandError(f"client {args.client_id!r} not found")
    with models.database.atomic():
        revoked = delete_client(client)
        _audit("client.delete", client.client_id, f"name: {client.name}")
    print(f"deleted client {client.client_id} ({revoked} tokens revoked)")
    return 0


def command_list_integrations(args: argparse.Namespace, settings: Settings) -> int:
    registry = load_integrations()
    loaded = [
        {
            "name": item.name,
            "title": item.integration.title,
            "version": item.integration.version,
            "description": item.integration.description,
            "entry_point": item.entry_point,
            "distribution": item.distribution,
        }
        for item in (registry.loaded[name] for name in registry.names())
    ]
    failed = [
        {
            "entry_point": item.entry_point,
            "distribution": item.distribution,
            "reason": item.reason,
        }
        for item in registry.failed
    ]
    if args.json:
        print(json.dumps({"integrations": loaded, "failed": failed}, indent=2))
        return 0
    for item in loaded:
        name, version, title = item["name"], item["version"], item["title"]
        print(f"{name}  {version}  {title}  ({item['distribution']})")
    for item in failed:
        entry_point, reason = item["entry_point"], item["reason"]
        print(f"FAILED  {entry_point}  ({item['distribution']}): {reason}")
    if not loaded and not failed:
        print("no integrations installed")
    return 0


def command_rotate_signing_key(args: argparse.Namespace, settings: Settings) -> int:
    _open_for_command(settings)
    with models.database.atomic():
        key = create_signing_key()
        _audit("signing_key.rotate", key.kid)
    print(
        f"signing key {key.kid} now signs new tokens; running servers pick it up"
        f" within {HOUSEKEEPING_INTERVAL_SECONDS} seconds, and older keys keep"
        " verifying until their tokens expire"
    )
    return 0


def command_serve(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0


# Argument parsing


class CommandParser(argparse.ArgumentParser):
    """An argument parser that reports a usage error in one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}. See {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    common = CommandParser(add_help=False)
    # SUPPRESS keeps a command's parser from resetting a --config that was
    # given before the command name.
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML settings file (default: $GATEWAY_CONFIG)",
    )
    parser = CommandParser(
        prog="server.py",
        description="integration-gateway: serve integrations to partner systems.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve", parents=[common], help="run the HTTP server (the default)"
    )
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve_parser.set_defaults(handler=command_serve)

    user_parser = commands.add_parser(
        "create-user", parents=[common], help="create a user or service account"
    )
    user_parser.add_argument("name")
    kind = user_parser.add_mutually_exclusive_group()
    kind.add_argument("--staff", action="store_true", help="an administrator")
    kind.add_argument(
        "--service-account",
        action="store_true",
        help="a non-human account that only executes integrations",
    )
    user_parser.add_argument("--vendor", help="vendor label of a service account")
    user_parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    user_parser.add_argument("--json", action="store_true", help="print JSON")
    user_parser.set_defaults(handler=command_create_user)

    for name, handler, summary in (
        ("grant", command_grant, "give a user a permission on an integration"),
        ("revoke", command_revoke, "take a permission on an integration from a user"),
    ):
        sub = commands.add_parser(name, parents=[common], help=summary)
        sub.add_argument("name", help="user or service account")
        sub.add_argument("integration", help="integration name")
        sub.add_argument(
            "--permission",
            choices=PERMISSIONS,
            default=EXECUTE,
            help="permission (default execute)",
        )
        sub.set_defaults(handler=handler)

    for name, handler, summary in (
        (
            "deactivate-user",
            command_deactivate_user,
            "stop a user's password and tokens at once",
        ),
        ("activate-user", command_activate_user, "allow a deactivated user again"),
    ):
        sub = commands.add_parser(name, parents=[common], help=summary)
        sub.add_argument("name")
        sub.set_defaults(handler=handler)

    app_parser = commands.add_parser(
        "create-app", parents=[common], help="register an OAuth client"
    )
    app_parser.add_argument("--name", required=True, help="name shown to users")
    app_parser.add_argument(
        "--grant-type",
        required=True,
        action="append",
        choices=sorted(_GRANT_TYPE_NAMES),
        help="repeat to allow both grant types",
    )
    app_parser.add_argument(
        "--client-type", choices=("confidential", "public"), default="confidential"
    )
    app_parser.add_argument(
        "--user",
        metavar="SERVICE_ACCOUNT",
        help="service account the client acts as (required for client-credentials)",
    )
    app_parser.add_argument(
        "--redirect-uri",
        action="append",
        metavar="URI",
        help="allowed redirect URI; repeat for several",
    )
    app_parser.add_argument(
        "--resource-server",
        action="store_true",
        help="allow the client to introspect tokens",
    )
    app_parser.add_argument("--json", action="store_true", help="print JSON")
    app_parser.set_defaults(handler=command_create_app)

    delete_parser = commands.add_parser(
        "delete-app", parents=[common], help="delete an OAuth client and its tokens"
    )
    delete_parser.add_argument("client_id")
    delete_parser.set_defaults(handler=command_delete_app)

    list_parser = commands.add_parser(
        "list-integrations",
        parents=[common],
        help="list installed integrations and failed plugins",
    )
    list_parser.add_argument("--json", action="store_true", help="print JSON")
    list_parser.set_defaults(handler=command_list_integrations)

    rotate_parser = commands.add_parser(
        "rotate-signing-key",
        parents=[common],
        help="sign new access tokens with a new key",
    )
    rotate_parser.set_defaults(handler=command_rotate_signing_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = getattr(
        args, "handler", command_serve
    )
    try:
        settings = load_settings(
            getattr(args, "config", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
        )
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Operator commands print their own results; the log is for the server.
    serving = handler is command_serve
    logging.basicConfig(
        level=settings.log_level if serving else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # peewee logs every query with its bound values at DEBUG, and those values
    # include the signing key, the stored secrets and password hashes.
    logging.getLogger("peewee").setLevel(logging.INFO)
    try:
        return handler(args, settings)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except models.base.DATABASE_ERRORS as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"error: database {redact_database_url(settings.database_url)}:"
            f" {type(error).__name__}: {first_line}",
            file=sys.stderr,
        )
        return 1
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
