"""The operators' command line: every command, its output and its errors.

Each test runs ``server.py`` as a process against a fresh database, once on
SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from auth.passwords import PasswordHasher
from models.audit import AuditEvent
from models.clients import Client
from models.users import Permission, User
from tests.e2e import CREATE_CC_APP, open_database

pytestmark = pytest.mark.e2e

PASSWORD = "long enough password"
# For commands that stop before they open the database.
SQLITE_ONLY = pytest.mark.parametrize("server_database_url", ["sqlite"], indirect=True)


def assert_fails(
    result: subprocess.CompletedProcess[str], message: str, code: int = 1
) -> None:
    """Assert a non-zero exit with exactly one line, ``error: message``."""
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.endswith("\n")
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: " + message), result.stderr


def assert_succeeds(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.fixture
def cli(gateway_process: Any) -> Any:
    """A gateway that is set up by commands only; no server runs."""
    return gateway_process


def create_user(cli: Any, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return cli.run_cli(
        "create-user", name, *flags, "--password-stdin", stdin=PASSWORD + "\n"
    )


def create_service_account(cli: Any, name: str = "partner-sa") -> str:
    """Create a service account with a generated password; return the password."""
    output = json.loads(
        assert_succeeds(cli.run_cli("create-user", name, "--service-account", "--json"))
    )
    return output["password"]  # type: ignore[no-any-return]


def test_create_standard_user(cli: Any, server_database_url: str) -> None:
    output = assert_succeeds(create_user(cli, "alice"))

    assert output == "created standard alice\n"
    with open_database(server_database_url):
        user = User.get(User.username == "alice")
        assert user.kind == "standard"
        assert PasswordHasher(4).check_now(PASSWORD, user.password_hash)
        event = AuditEvent.get(AuditEvent.action == "user.create")
        assert event.actor == "cli"
        assert event.target == "alice"
        assert event.outcome == "success"


def test_create_staff_user_json(cli: Any) -> None:
    output = assert_succeeds(create_user(cli, "admin", "--staff", "--json"))

    assert json.loads(output) == {"username": "admin", "kind": "staff"}


def test_password_with_spaces_and_colons(cli: Any, server_database_url: str) -> None:
    password = "  pass: word ä  "
    result = cli.run_cli("create-user", "alice", "--password-stdin", stdin=password)

    assert_succeeds(result)
    with open_database(server_database_url):
        user = User.get(User.username == "alice")
        assert PasswordHasher(4).check_now(password, user.password_hash)


def test_service_account_generated_password(cli: Any, server_database_url: str) -> None:
    result = cli.run_cli(
        "create-user", "partner-sa", "--service-account", "--vendor", "ACME Corp"
    )

    lines = assert_succeeds(result).splitlines()
    assert lines[0] == "created service account partner-sa"
    assert lines[1].startswith("password (shown once, store it now): ")
    password = lines[1].rsplit(" ", 1)[1]
    assert len(password) >= 43
    with open_database(server_database_url):
        user = User.get(User.username == "partner-sa")
        assert user.kind == "service_account"
        assert user.vendor == "ACME Corp"
        assert PasswordHasher(4).check_now(password, user.password_hash)
        assert password not in user.password_hash


def test_service_account_json(cli: Any) -> None:
    result = cli.run_cli("create-user", "partner-sa", "--service-account", "--json")

    output = json.loads(assert_succeeds(result))
    assert set(output) == {"username", "kind", "password"}
    assert output["username"] == "partner-sa"
    assert output["kind"] == "service_account"


def test_service_account_password_from_stdin(cli: Any) -> None:
    output = assert_succeeds(create_user(cli, "partner-sa", "--service-account"))

    assert output == "created service account partner-sa\n"


def test_duplicate_user(cli: Any) -> None:
    assert_succeeds(create_user(cli, "alice"))

    assert_fails(create_user(cli, "alice", "--staff"), "user 'alice' already exists")


def test_username_differing_in_case(cli: Any, server_database_url: str) -> None:
    assert_succeeds(create_user(cli, "alice"))

    assert_fails(
        create_user(cli, "Alice"),
        "a user named 'alice' already exists, so choose a username that differs"
        " in more than letter case",
    )
    with open_database(server_database_url):
        assert [user.username for user in User.select()] == ["alice"]


@SQLITE_ONLY
def test_invalid_username(cli: Any) -> None:
    assert_fails(create_user(cli, "al ice"), "invalid username: use 1 to 150")


def test_vendor_for_person(cli: Any) -> None:
    assert_fails(
        create_user(cli, "alice", "--vendor", "ACME"),
        "a vendor label is only for service accounts",
    )


@SQLITE_ONLY
def test_missing_password(cli: Any) -> None:
    result = cli.run_cli("create-user", "alice", stdin="")

    assert_fails(result, "a password is required: pass --password-stdin")


@SQLITE_ONLY
def test_empty_password_on_stdin(cli: Any) -> None:
    result = cli.run_cli("create-user", "alice", "--password-stdin", stdin="\n")

    assert_fails(result, "no password on standard input")


@SQLITE_ONLY
def test_short_password(cli: Any) -> None:
    result = cli.run_cli("create-user", "alice", "--password-stdin", stdin="short\n")

    assert_fails(result, "password is too short: use at least 8 characters")


@SQLITE_ONLY
def test_conflicting_kinds(cli: Any) -> None:
    result = cli.run_cli("create-user", "x", "--staff", "--service-account")

    assert_fails(
        result,
        "server.py create-user: argument --service-account: not allowed with"
        " argument --staff",
        code=2,
    )


@SQLITE_ONLY
def test_unknown_command(cli: Any) -> None:
    assert_fails(
        cli.run_cli("frobnicate"),
        "server.py: argument COMMAND: invalid choice: 'frobnicate'",
        code=2,
    )


def test_grant_and_revoke(cli: Any, server_database_url: str) -> None:
    create_service_account(cli)

    granted = assert_succeeds(cli.run_cli("grant", "partner-sa", "echo"))
    again = assert_succeeds(cli.run_cli("grant", "partner-sa", "echo"))

    assert granted == "granted execute on echo for partner-sa\n"
    assert again == "partner-sa already holds execute on echo\n"

    revoked = assert_succeeds(cli.run_cli("revoke", "partner-sa", "echo"))
    not_held = assert_succeeds(cli.run_cli("revoke", "partner-sa", "echo"))

    assert revoked == "revoked execute on echo for partner-sa\n"
    assert not_held == "partner-sa does not hold execute on echo\n"
    with open_database(server_database_url):
        assert Permission.select().count() == 0
        actions = [
            event.action
            for event in AuditEvent.select()
            .where(AuditEvent.action.startswith("permission."))
            .order_by(AuditEvent.id)
        ]
        # The repeated grant and revoke changed nothing and are not audited.
        assert actions == ["permission.grant", "permission.revoke"]


@pytest.mark.parametrize("permission", ["read", "write", "execute", "debug"])
def test_grant_each_permission_to_person(cli: Any, permission: str) -> None:
    assert_succeeds(create_user(cli, "alice"))

    result = cli.run_cli("grant", "alice", "echo", "--permission", permission)

    assert assert_succeeds(result) == f"granted {permission} on echo for alice\n"


@pytest.mark.parametrize("permission", ["read", "write", "debug"])
def test_grant_service_account_only_execute(cli: Any, permission: str) -> None:
    create_service_account(cli)

    result = cli.run_cli("grant", "partner-sa", "echo", "--permission", permission)

    assert_fails(
        result,
        f"service account 'partner-sa' can only hold the execute permission,"
        f" not '{permission}'",
    )


def test_grant_bad_permission(cli: Any) -> None:
    assert_succeeds(create_user(cli, "alice"))

    result = cli.run_cli("grant", "alice", "echo", "--permission", "admin")

    assert_fails(
        result,
        "server.py grant: argument --permission: invalid choice: 'admin'",
        code=2,
    )


@pytest.mark.parametrize("command", ["grant", "revoke"])
def test_permission_for_unknown_user(cli: Any, command: str) -> None:
    assert_fails(cli.run_cli(command, "ghost", "echo"), "user 'ghost' not found")


def test_grant_unknown_integration(cli: Any) -> None:
    assert_succeeds(create_user(cli, "alice"))

    result = cli.run_cli("grant", "alice", "nope")

    assert_fails(result, "integration 'nope' is not loaded (loaded: echo)")


def test_deactivate_and_activate(cli: Any, server_database_url: str) -> None:
    create_service_account(cli)

    deactivated = assert_succeeds(cli.run_cli("deactivate-user", "partner-sa"))
    activated = assert_succeeds(cli.run_cli("activate-user", "partner-sa"))

    assert deactivated == "partner-sa deactivated (0 tokens revoked)\n"
    assert activated == "partner-sa activated\n"
    with open_database(server_database_url):
        user = User.get(User.username == "partner-sa")
        assert user.is_active is True
        assert user.credential_version == 3
        actions = [
            event.action
            for event in AuditEvent.select()
            .where(AuditEvent.target == "partner-sa")
            .order_by(AuditEvent.id)
        ]
        assert actions == ["user.create", "user.deactivate", "user.activate"]


@pytest.mark.parametrize("command", ["deactivate-user", "activate-user"])
def test_activation_of_unknown_user(cli: Any, command: str) -> None:
    assert_fails(cli.run_cli(command, "ghost"), "user 'ghost' not found")


def test_create_app_client_credentials(cli: Any, server_database_url: str) -> None:
    create_service_account(cli)

    result = cli.run_cli(
        "create-app",
        "--name",
        "ERP connector",
        "--grant-type",
        "client-credentials",
        "--user",
        "partner-sa",
    )

    lines = assert_succeeds(result).splitlines()
    assert lines[0].startswith("client_id: ")
    assert lines[1].startswith("client_secret (shown once, store it now): ")
    client_id = lines[0].split(": ", 1)[1]
    secret = lines[1].rsplit(" ", 1)[1]
    assert len(secret) >= 43
    with open_database(server_database_url):
        client = Client.get(Client.client_id == client_id)
        assert client.name == "ERP connector"
        assert client.grant_type_list == ["client_credentials"]
        assert client.service_account is not None
        assert client.service_account.username == "partner-sa"
        assert client.is_confidential
        assert client.secret_digest is not None
        assert secret not in client.secret_digest
        event = AuditEvent.get(AuditEvent.action == "client.create")
        assert event.target == client_id


def test_create_app_json(cli: Any) -> None:
    create_service_account(cli)

    result = cli.run_cli(*CREATE_CC_APP, "--name", "ERP", "--json")

    output = json.loads(assert_succeeds(result))
    assert set(output) == {"client_id", "client_secret"}
    assert len(output["client_secret"]) >= 43


def test_create_public_app_json(cli: Any) -> None:
    result = cli.run_cli(
        "create-app",
        "--name",
        "Mobile",
        "--grant-type",
        "authorization-code",
        "--client-type",
        "public",
        "--redirect-uri",
        "http://127.0.0.1:7000/callback",
        "--json",
    )

    output = json.loads(assert_succeeds(result))
    assert output["client_secret"] is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--grant-type", "client-credentials"],
            "service_account: client credentials needs a service account",
        ),
        (
            ["--grant-type", "client-credentials", "--user", "alice"],
            "service_account: 'alice' is not a service account",
        ),
        (
            ["--grant-type", "client-credentials", "--user", "ghost"],
            "user 'ghost' not found",
        ),
        (
            [
                "--grant-type",
                "client-credentials",
                "--user",
                "partner-sa",
                "--client-type",
                "public",
            ],
            "grant_types: client credentials needs a confidential client",
        ),
        (
            ["--grant-type", "authorization-code"],
            "redirect_uris: authorization code needs at least one redirect URI",
        ),
        (
            [
                "--grant-type",
                "authorization-code",
                "--redirect-uri",
                "http://partner.example.com/callback",
            ],
            "redirect_uris: redirect URI 'http://partner.example.com/callback' must"
            " use https",
        ),
    ],
)
def test_create_app_errors(cli: Any, arguments: list[str], message: str) -> None:
    create_service_account(cli)
    assert_succeeds(create_user(cli, "alice"))

    result = cli.run_cli("create-app", "--name", "App", *arguments)

    assert_fails(result, message)


@SQLITE_ONLY
def test_create_app_bad_grant_type(cli: Any) -> None:
    result = cli.run_cli("create-app", "--name", "App", "--grant-type", "password")

    assert_fails(
        result,
        "server.py create-app: argument --grant-type: invalid choice: 'password'",
        code=2,
    )


def test_delete_app(cli: Any, server_database_url: str) -> None:
    create_service_account(cli)
    created = cli.run_cli(*CREATE_CC_APP, "--name", "ERP", "--json")
    client_id = json.loads(assert_succeeds(created))["client_id"]

    output = assert_succeeds(cli.run_cli("delete-app", client_id))

    assert output == f"deleted client {client_id} (0 tokens revoked)\n"
    with open_database(server_database_url):
        assert Client.select().count() == 0
        assert AuditEvent.get(AuditEvent.action == "client.delete").target == client_id


def test_delete_unknown_app(cli: Any) -> None:
    assert_fails(cli.run_cli("delete-app", "nope"), "client 'nope' not found")


@SQLITE_ONLY
def test_list_integrations(cli: Any) -> None:
    output = assert_succeeds(cli.run_cli("list-integrations"))

    assert output == "echo  1.0.0  Echo  (integration-gateway)\n"


@SQLITE_ONLY
def test_list_integrations_json(cli: Any) -> None:
    output = json.loads(assert_succeeds(cli.run_cli("list-integrations", "--json")))

    assert output == {
        "integrations": [
            {
                "name": "echo",
                "title": "Echo",
                "version": "1.0.0",
                "description": "Returns who called and the JSON payload it was sent.",
                "entry_point": "echo = plugins.echo:EchoIntegration",
                "distribution": "integration-gateway",
            }
        ],
        "failed": [],
    }


def test_rotate_signing_key(cli: Any) -> None:
    output = assert_succeeds(cli.run_cli("rotate-signing-key"))

    assert output.startswith("signing key ")
    assert "now signs new tokens" in output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATEWAY_PORT", "abc", "port (GATEWAY_PORT): expected a whole number"),
        (
            "GATEWAY_BCRYPT_ROUNDS",
            "99",
            "bcrypt_rounds (GATEWAY_BCRYPT_ROUNDS): expected a value from 4 to 31",
        ),
        (
            "GATEWAY_DATABASE_URL",
            "mysql://db/x",
            "database_url (GATEWAY_DATABASE_URL): expected sqlite:///PATH",
        ),
    ],
)
@SQLITE_ONLY
@pytest.mark.parametrize(
    "command", [["list-integrations"], ["serve"], ["create-user", "alice"]]
)
def test_bad_setting_stops_any_command(
    cli: Any, command: list[str], variable: str, value: str, message: str
) -> None:
    result = cli.run_cli(*command, stdin="", env={variable: value})

    assert_fails(result, message, code=2)


@SQLITE_ONLY
@pytest.mark.parametrize("before_command", [True, False])
def test_bad_config_file(cli: Any, tmp_path: Path, before_command: bool) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("plugin_timeout_seconds = 'soon'\n")
    arguments = ["list-integrations", "--config", str(path)]
    if before_command:
        arguments = ["--config", str(path), "list-integrations"]

    result = cli.run_cli(*arguments)

    assert_fails(
        result,
        "plugin_timeout_seconds (GATEWAY_PLUGIN_TIMEOUT_SECONDS): expected a number",
        code=2,
    )


@SQLITE_ONLY
def test_config_file_from_environment(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("log_level = 'chatty'\n")

    result = cli.run_cli("list-integrations", env={"GATEWAY_CONFIG": str(path)})

    assert_fails(result, "log_level (GATEWAY_LOG_LEVEL): expected one of", code=2)


@SQLITE_ONLY
def test_missing_config_file(cli: Any, tmp_path: Path) -> None:
    result = cli.run_cli("serve", "--config", str(tmp_path / "missing.toml"))

    assert_fails(
        result, f"config file {tmp_path / 'missing.toml'}: cannot be read", code=2
    )


@SQLITE_ONLY
def test_unreachable_database(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "directory.db").mkdir()

    result = cli.run_cli(
        "create-user",
        "alice",
        "--password-stdin",
        stdin=PASSWORD,
        env={"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/directory.db"},
    )

    assert_fails(
        result,
        f"database sqlite:///{tmp_path}/directory.db: OperationalError: unable to"
        " open database file",
    )


@pytest.mark.parametrize("server_database_url", ["postgresql"], indirect=True)
def test_postgresql_password_not_printed(cli: Any, server_database_url: str) -> None:
    url = server_database_url.replace("postgres@", "postgres:pw-s3cret@", 1)
    url = url.rsplit("/", 1)[0] + "/no_such_database_for_this_test"

    result = cli.run_cli(
        "create-user",
        "alice",
        "--password-stdin",
        stdin=PASSWORD,
        env={"GATEWAY_DATABASE_URL": url},
    )

    assert_fails(result, "database postgresql://postgres:***@127.0.0.1:5432/")
    assert "pw-s3cret" not in result.stderr
