"""integration-gateway: the command line.

``python server.py`` serves; the other commands set the gateway up. Every
command exits non-zero with a one-line message when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import models
from auth.accounts import activate_user, deactivate_user
from auth.clients import ClientError, create_client, delete_client
from auth.keys import create_signing_key
from auth.passwords import (
    PasswordError,
    PasswordHasher,
    generate_password,
    validate_new_password,
)
from config import Settings, SettingsError, load_settings, redact_database_url
from handlers.application import HOUSEKEEPING_INTERVAL_SECONDS, serve
from handlers.log_output import configure_logging
from models.audit import SUCCESS, record_event
from models.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client, query_client
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
    validate_permission,
)
from plugins.loader import load_integrations

log = logging.getLogger("integration_gateway.server")

CLI_ACTOR = "cli"


class CommandError(Exception):
    """A command cannot complete; the message is printed as one line."""


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
        if active:
            counts = activate_user(user)
        else:
            counts = deactivate_user(user)
        revoked = counts.total if counts else 0
        _audit("user.activate" if active else "user.deactivate", user.username)
    if active:
        state = "activated" if not revoked else f"activated ({revoked} tokens revoked)"
    else:
        state = f"deactivated ({revoked} tokens revoked)"
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
            "stop a user's password and tokens",
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
    configure_logging(settings.log_level if serving else logging.WARNING, serving)
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
