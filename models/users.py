"""Users, service accounts and their per-integration permissions."""

from __future__ import annotations

import re

import peewee

from models.base import BaseModel, database, utcnow
from models.changes import remembered
from models.prepared import PreparedQuery, build_instance, param

STANDARD = "standard"
STAFF = "staff"
SERVICE_ACCOUNT = "service_account"
USER_KINDS = (STANDARD, STAFF, SERVICE_ACCOUNT)

READ = "read"
WRITE = "write"
EXECUTE = "execute"
DEBUG = "debug"
PERMISSIONS = (READ, WRITE, EXECUTE, DEBUG)

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}\Z")


class UserError(ValueError):
    """A change to a user or a permission that the rules do not allow."""


class User(BaseModel):
    id: peewee.AutoField[int]
    username = peewee.CharField(max_length=150, unique=True)
    kind = peewee.CharField(max_length=20, default=STANDARD)
    password_hash = peewee.CharField(max_length=100)
    is_active = peewee.BooleanField(default=True)
    vendor = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)
    # Raised whenever the password or the active flag changes, so that any
    # credential remembered in memory for the old value stops matching.
    credential_version = peewee.IntegerField(default=1)

    @property
    def is_service_account(self) -> bool:
        return self.kind == SERVICE_ACCOUNT

    @property
    def is_staff(self) -> bool:
        return self.kind == STAFF

    class Meta:
        # Query results kept in memory (models.changes) read these rows. A
        # user's last use changes none of those results, so it is not tracked.
        track_changes = True
        untracked_columns = ("last_used_at",)


# Unique ignoring case: two usernames may not differ only in letter case.
USERNAME_CASE_INDEX = User.index(
    peewee.fn.LOWER(User.username), unique=True, name="user_username_lower"
)
User.add_index(USERNAME_CASE_INDEX)


class Permission(BaseModel):
    id: peewee.AutoField[int]
    user = peewee.ForeignKeyField(User, backref="permissions", on_delete="CASCADE")
    user_id: int
    integration = peewee.CharField(max_length=64)
    permission = peewee.CharField(max_length=10)

    class Meta:
        indexes = ((("user", "integration", "permission"), True),)
        track_changes = True


def check_username_syntax(username: str) -> bool:
    """Return whether ``username`` has the syntax every stored username has."""
    return USERNAME_PATTERN.match(username) is not None


def validate_username(username: str) -> None:
    """Raise :class:`UserError` unless ``username`` is a valid user name."""
    if not check_username_syntax(username):
        raise UserError(
            "invalid username: use 1 to 150 letters, digits and . _ @ + -,"
            " starting with a letter or digit"
        )


_USER_FIELDS = User._meta.sorted_fields
_USER_BY_NAME = PreparedQuery(
    lambda: User.select(*_USER_FIELDS).where(User.username == param("username"))
)


def query_user(username: str) -> User | None:
    """Return the user called ``username``, or None.

    Every Basic call looks its user up, so this uses SQL compiled once.
    """
    row = _USER_BY_NAME.first(username=username)
    if row is None:
        return None
    user: User = build_instance(User, _USER_FIELDS, row)
    return user


@remembered
def recall_user(username: str) -> User | None:
    """Return the result of :func:`query_user`, remembered until a tracked write.

    For the partner API's Basic check; callers must not change the user.
    """
    return query_user(username)


def query_username_ignoring_case(username: str) -> str | None:
    """Return the stored username that equals ``username`` ignoring case, or None.

    Usernames are ASCII, so SQL ``LOWER`` folds them the same way on SQLite
    and PostgreSQL.
    """
    row = (
        User.select(User.username)
        .where(peewee.fn.LOWER(User.username) == username.lower())
        .first()
    )
    return None if row is None else str(row.username)


def query_username_case_clashes() -> list[str]:
    """Return the lower-cased usernames that more than one user has."""
    lowered = peewee.fn.LOWER(User.username)
    query = (
        User.select(lowered)
        .group_by(lowered)
        .having(peewee.fn.COUNT(User.id) > 1)
        .order_by(lowered)
    )
    return [str(row[0]) for row in query.tuples().iterator()]


def create_user(
    username: str, kind: str, password_hash: str, vendor: str | None = None
) -> User:
    """Insert a user; raise :class:`UserError` when the name is invalid or taken.

    A name is taken when it equals an existing one ignoring case, so
    ``Alice`` cannot be created next to ``alice``.
    """
    validate_username(username)
    if kind not in USER_KINDS:
        raise UserError(f"invalid user kind {kind!r}: expected one of {USER_KINDS}")
    if vendor and kind != SERVICE_ACCOUNT:
        raise UserError("a vendor label is only for service accounts")
    if vendor is not None and len(vendor) > 200:
        raise UserError("vendor label is longer than 200 characters")
    existing = query_username_ignoring_case(username)
    if existing == username:
        raise UserError(f"user {username!r} already exists")
    if existing is not None:
        raise UserError(
            f"a user named {existing!r} already exists, so choose a username"
            " that differs in more than letter case"
        )
    try:
        with database.atomic():
            return User.create(
                username=username,
                kind=kind,
                password_hash=password_hash,
                vendor=vendor or None,
            )
    except peewee.IntegrityError:
        raise UserError(f"user {username!r} already exists") from None


def set_password_hash(user: User, password_hash: str) -> None:
    """Store a new password hash and invalidate remembered credentials."""
    User.update(
        password_hash=password_hash,
        credential_version=User.credential_version + 1,
    ).where(User.id == user.id).execute()
    user.password_hash = password_hash
    user.credential_version += 1


def set_active(user: User, active: bool) -> None:
    """Activate or deactivate ``user`` and invalidate remembered credentials."""
    User.update(is_active=active, credential_version=User.credential_version + 1).where(
        User.id == user.id
    ).execute()
    user.is_active = active
    user.credential_version += 1


def validate_permission(user: User, permission: str) -> None:
    """Raise :class:`UserError` unless ``user`` may hold ``permission``."""
    if permission not in PERMISSIONS:
        raise UserError(
            f"invalid permission {permission!r}: expected one of"
            f" {', '.join(PERMISSIONS)}"
        )
    if user.is_service_account and permission != EXECUTE:
        raise UserError(
            f"service account {user.username!r} can only hold the execute"
            f" permission, not {permission!r}"
        )


def grant_permission(user: User, integration: str, permission: str) -> bool:
    """Give ``user`` a permission; return False when it was held already."""
    validate_permission(user, permission)
    # Count rows: on SQLite an ignored insert still returns the last row id.
    query = (
        Permission.insert(user=user, integration=integration, permission=permission)
        .on_conflict_ignore()
        .as_rowcount()
    )
    return bool(query.execute())


def revoke_permission(user: User, integration: str, permission: str) -> bool:
    """Take a permission from ``user``; return False when it was not held."""
    if permission not in PERMISSIONS:
        raise UserError(
            f"invalid permission {permission!r}: expected one of"
            f" {', '.join(PERMISSIONS)}"
        )
    deleted = (
        Permission.delete()
        .where(
            (Permission.user == user)
            & (Permission.integration == integration)
            & (Permission.permission == permission)
        )
        .execute()
    )
    return bool(deleted)


_HOLDS_PERMISSION = PreparedQuery(
    lambda: (
        Permission.select(Permission.id)
        .where(
            (Permission.user == param("user_id"))
            & (Permission.integration == param("integration"))
            & (Permission.permission == param("permission"))
        )
        .limit(1)
    )
)


def check_permission(user_id: int, integration: str, permission: str) -> bool:
    """Return whether the user holds ``permission`` on ``integration``."""
    row = _HOLDS_PERMISSION.first(
        user_id=user_id, integration=integration, permission=permission
    )
    return row is not None


_INTEGRATIONS_WITH = PreparedQuery(
    lambda: (
        Permission.select(Permission.integration)
        .where(
            (Permission.user == param("user_id"))
            & (Permission.permission == param("permission"))
        )
        .order_by(Permission.integration)
    )
)


@remembered
def query_integrations_with(user_id: int, permission: str) -> tuple[str, ...]:
    """Return the integrations on which the user has ``permission``, sorted.

    The result is remembered until a tracked write (see models.changes).
    """
    cursor = _INTEGRATIONS_WITH.execute(user_id=user_id, permission=permission)
    return tuple(row[0] for row in cursor.fetchall())


def query_user_permissions(user_id: int) -> dict[str, set[str]]:
    """Return the user's permissions by integration name."""
    rows = Permission.select(Permission.integration, Permission.permission).where(
        Permission.user == user_id
    )
    held: dict[str, set[str]] = {}
    for row in rows:
        held.setdefault(row.integration, set()).add(row.permission)
    return held


def query_users(kind: str | None = None) -> list[User]:
    """Return every user, or those of one ``kind``, ordered by username."""
    query = User.select().order_by(User.username)
    if kind is not None:
        query = query.where(User.kind == kind)
    return list(query)


def query_user_by_id(user_id: int) -> User | None:
    """Return the user with row id ``user_id``, or None."""
    return User.get_or_none(User.id == user_id)


def query_permission_holders(integration: str) -> list[tuple[User, list[str]]]:
    """Return the users holding a permission on ``integration``, by username.

    Each user comes with the permissions held, in the order of ``PERMISSIONS``.
    """
    rows = (
        Permission.select(Permission.permission, User)
        .join(User)
        .where(Permission.integration == integration)
        .order_by(User.username)
    )
    held: dict[int, tuple[User, set[str]]] = {}
    for row in rows:
        held.setdefault(row.user.id, (row.user, set()))[1].add(row.permission)
    return [
        (user, [name for name in PERMISSIONS if name in permissions])
        for user, permissions in held.values()
    ]
