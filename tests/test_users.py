"""Users, service accounts and per-integration permissions."""

from __future__ import annotations

import peewee
import pytest

from models.users import (
    DEBUG,
    EXECUTE,
    READ,
    SERVICE_ACCOUNT,
    STAFF,
    STANDARD,
    WRITE,
    Permission,
    User,
    UserError,
    check_permission,
    create_user,
    grant_permission,
    query_integrations_with,
    query_user,
    revoke_permission,
    set_active,
    set_password_hash,
)

HASH = "$2b$04$" + "x" * 53


@pytest.mark.parametrize("kind", [STANDARD, STAFF, SERVICE_ACCOUNT])
def test_create_each_kind(db: peewee.Database, kind: str) -> None:
    user = create_user("someone", kind, HASH)
    stored = query_user("someone")

    assert stored is not None
    assert stored.id == user.id
    assert stored.kind == kind
    assert stored.is_active is True
    assert stored.credential_version == 1
    assert stored.created_at is not None
    assert stored.last_used_at is None
    assert stored.is_service_account is (kind == SERVICE_ACCOUNT)
    assert stored.is_staff is (kind == STAFF)


def test_service_account_vendor(db: peewee.Database) -> None:
    create_user("acme-sa", SERVICE_ACCOUNT, HASH, vendor="ACME Corp")

    stored = query_user("acme-sa")
    assert stored is not None
    assert stored.vendor == "ACME Corp"


def test_vendor_only_for_service_accounts(db: peewee.Database) -> None:
    with pytest.raises(UserError, match="only for service accounts"):
        create_user("alice", STANDARD, HASH, vendor="ACME Corp")


def test_vendor_too_long(db: peewee.Database) -> None:
    with pytest.raises(UserError, match="longer than 200"):
        create_user("acme-sa", SERVICE_ACCOUNT, HASH, vendor="v" * 201)


def test_unknown_kind(db: peewee.Database) -> None:
    with pytest.raises(UserError, match="invalid user kind 'robot'"):
        create_user("r2", "robot", HASH)


@pytest.mark.parametrize(
    "username", ["", ".alice", "-alice", "al ice", "alice\n", "ålice", "a" * 151]
)
def test_invalid_username(db: peewee.Database, username: str) -> None:
    with pytest.raises(UserError, match="invalid username"):
        create_user(username, STANDARD, HASH)

    assert User.select().count() == 0


@pytest.mark.parametrize(
    "username", ["a", "alice.b@example.com", "sa_1+x-y", "A" * 150]
)
def test_valid_username(db: peewee.Database, username: str) -> None:
    assert create_user(username, STANDARD, HASH).username == username


def test_duplicate_username(db: peewee.Database) -> None:
    create_user("alice", STANDARD, HASH)

    with pytest.raises(UserError, match="user 'alice' already exists"):
        create_user("alice", SERVICE_ACCOUNT, HASH)

    # The failed insert left the connection usable.
    assert User.select().count() == 1


def test_password_change_raises_version(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)

    set_password_hash(user, HASH.replace("x", "y"))

    stored = query_user("alice")
    assert stored is not None
    assert stored.password_hash == HASH.replace("x", "y")
    assert stored.credential_version == 2
    assert user.credential_version == 2


def test_activation_raises_version(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)

    set_active(user, False)
    stored = query_user("alice")
    assert stored is not None
    assert stored.is_active is False
    assert stored.credential_version == 2

    set_active(user, True)
    stored = query_user("alice")
    assert stored is not None
    assert stored.is_active is True
    assert stored.credential_version == 3


@pytest.mark.parametrize("permission", [READ, WRITE, EXECUTE, DEBUG])
def test_standard_user_any_permission(db: peewee.Database, permission: str) -> None:
    user = create_user("alice", STANDARD, HASH)

    assert grant_permission(user, "echo", permission) is True
    assert check_permission(user.id, "echo", permission) is True


@pytest.mark.parametrize("permission", [READ, WRITE, DEBUG])
def test_service_account_only_execute(db: peewee.Database, permission: str) -> None:
    account = create_user("partner-sa", SERVICE_ACCOUNT, HASH)

    with pytest.raises(UserError) as caught:
        grant_permission(account, "echo", permission)

    assert str(caught.value) == (
        f"service account 'partner-sa' can only hold the execute permission,"
        f" not {permission!r}"
    )
    assert Permission.select().count() == 0


def test_service_account_execute(db: peewee.Database) -> None:
    account = create_user("partner-sa", SERVICE_ACCOUNT, HASH)

    assert grant_permission(account, "echo", EXECUTE) is True
    assert check_permission(account.id, "echo", EXECUTE) is True
    assert check_permission(account.id, "echo", READ) is False
    assert check_permission(account.id, "crm", EXECUTE) is False


def test_grant_twice_and_revoke(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)

    assert grant_permission(user, "echo", EXECUTE) is True
    assert grant_permission(user, "echo", EXECUTE) is False
    assert Permission.select().count() == 1

    assert revoke_permission(user, "echo", EXECUTE) is True
    assert revoke_permission(user, "echo", EXECUTE) is False
    assert check_permission(user.id, "echo", EXECUTE) is False


def test_invalid_permission(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)

    with pytest.raises(UserError, match="invalid permission 'admin'"):
        grant_permission(user, "echo", "admin")
    with pytest.raises(UserError, match="invalid permission 'admin'"):
        revoke_permission(user, "echo", "admin")


def test_integrations_with_permission_sorted(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)
    other = create_user("bob", STANDARD, HASH)
    for integration in ("zeta", "alpha", "mid"):
        grant_permission(user, integration, EXECUTE)
    grant_permission(user, "beta", READ)
    grant_permission(other, "beta", EXECUTE)

    assert query_integrations_with(user.id, EXECUTE) == ("alpha", "mid", "zeta")
    assert query_integrations_with(user.id, READ) == ("beta",)


def test_permissions_deleted_with_user(db: peewee.Database) -> None:
    user = create_user("alice", STANDARD, HASH)
    grant_permission(user, "echo", EXECUTE)

    user.delete_instance()

    assert Permission.select().count() == 0


@pytest.mark.parametrize("username", ["Alice", "ALICE", "aLiCe"])
def test_username_differing_in_case_rejected(
    db: peewee.Database, username: str
) -> None:
    create_user("alice", STANDARD, HASH)

    with pytest.raises(UserError) as caught:
        create_user(username, STANDARD, HASH)

    assert str(caught.value) == (
        "a user named 'alice' already exists, so choose a username that differs"
        " in more than letter case"
    )
    assert User.select().count() == 1


def test_case_index_rejects_direct_insert(db: peewee.Database) -> None:
    create_user("alice", STANDARD, HASH)

    with pytest.raises(peewee.IntegrityError), db.atomic():
        User.create(username="Alice", kind=STANDARD, password_hash=HASH)

    assert User.select().count() == 1
