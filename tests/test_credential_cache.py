"""The memory of verified Basic credentials and the authenticator around it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from auth.credential_cache import CredentialCache
from auth.user_auth import BusyError, UserAuthenticator
from handlers.gateway import Gateway
from models.users import (
    SERVICE_ACCOUNT,
    User,
    query_user,
    set_active,
    set_password_hash,
)
from tests.conftest import PASSWORD
from tests.support import CheckCounter

UserFactory = Callable[..., User]
ADDRESS = "192.0.2.1"


def test_digest_hides_credential() -> None:
    cache = CredentialCache(60)

    digest = cache.digest("partner-sa", "s3cret-password")

    assert len(digest) == 32
    assert b"s3cret" not in digest
    assert digest == cache.digest("partner-sa", "s3cret-password")
    assert digest != cache.digest("partner-sa", "s3cret-passworD")
    # The separator keeps "ab" + "c" apart from "a" + "bc".
    assert cache.digest("ab", "c") != cache.digest("a", "bc")


def test_digest_key_differs_per_cache() -> None:
    assert CredentialCache(60).digest("u", "p") != CredentialCache(60).digest("u", "p")


def test_digest_of_lone_surrogate() -> None:
    cache = CredentialCache(60)

    assert cache.digest("u", "\ud800") != cache.digest("u", "\ud801")


def test_hit_requires_same_user_and_version() -> None:
    cache = CredentialCache(60)
    digest = cache.digest("partner-sa", "pw")

    assert cache.check(digest, 1, 1) is False
    cache.remember(digest, 1, 1)

    assert cache.check(digest, 1, 1) is True
    assert cache.check(digest, 1, 2) is False
    assert cache.check(digest, 2, 1) is False
    assert len(cache) == 1


def test_entry_expires() -> None:
    cache = CredentialCache(0.2)
    digest = cache.digest("partner-sa", "pw")
    cache.remember(digest, 1, 1)
    assert cache.check(digest, 1, 1) is True

    time.sleep(0.3)

    assert cache.check(digest, 1, 1) is False
    assert len(cache) == 0


def test_zero_lifetime_disables_cache() -> None:
    cache = CredentialCache(0)
    digest = cache.digest("partner-sa", "pw")

    cache.remember(digest, 1, 1)

    assert cache.check(digest, 1, 1) is False
    assert len(cache) == 0


def test_oldest_entry_evicted_at_limit() -> None:
    cache = CredentialCache(60, max_entries=2)
    first, second, third = (cache.digest(f"user{n}", "pw") for n in range(3))

    cache.remember(first, 1, 1)
    cache.remember(second, 2, 1)
    cache.remember(third, 3, 1)

    assert len(cache) == 2
    assert cache.check(first, 1, 1) is False
    assert cache.check(second, 2, 1) is True
    assert cache.check(third, 3, 1) is True


def test_forget_user() -> None:
    cache = CredentialCache(60)
    mine, theirs = cache.digest("a", "pw"), cache.digest("b", "pw")
    cache.remember(mine, 1, 1)
    cache.remember(theirs, 2, 1)

    cache.forget_user(1)

    assert cache.check(mine, 1, 1) is False
    assert cache.check(theirs, 2, 1) is True


@pytest.mark.gen_test
async def test_second_check_skips_bcrypt(
    gateway: Gateway, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("partner-sa", SERVICE_ACCOUNT)
    counter = CheckCounter(gateway, monkeypatch)
    authenticator = gateway.authenticator

    first = await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS)
    second = await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS)

    assert first is not None and first.id == user.id
    assert second is not None and second.id == user.id
    assert counter.calls == 1


@pytest.mark.gen_test
async def test_wrong_password_never_cached(
    gateway: Gateway, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("partner-sa", SERVICE_ACCOUNT)
    counter = CheckCounter(gateway, monkeypatch)

    for _ in range(2):
        assert (
            await gateway.authenticator.authenticate("partner-sa", "wrong", ADDRESS)
            is None
        )

    assert counter.calls == 2
    assert len(gateway.authenticator.cache) == 0


@pytest.mark.gen_test
async def test_password_change_invalidates(
    gateway: Gateway, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("partner-sa", SERVICE_ACCOUNT)
    authenticator = gateway.authenticator
    assert await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) is not None
    counter = CheckCounter(gateway, monkeypatch)

    # Another process changes the password: only the database row changes.
    stored = query_user("partner-sa")
    assert stored is not None
    set_password_hash(stored, gateway.hasher.hash_now("new password"))

    assert await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) is None
    assert counter.calls == 1
    assert (
        await authenticator.authenticate("partner-sa", "new password", ADDRESS)
        is not None
    )
    assert (
        await authenticator.authenticate("partner-sa", "new password", ADDRESS)
        is not None
    )
    assert counter.calls == 2
    current = query_user("partner-sa")
    assert current is not None
    assert user.id == current.id


@pytest.mark.gen_test
async def test_deactivation_invalidates(
    gateway: Gateway, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("partner-sa", SERVICE_ACCOUNT)
    authenticator = gateway.authenticator
    assert await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) is not None

    set_active(user, False)
    assert await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) is None

    set_active(user, True)
    counter = CheckCounter(gateway, monkeypatch)
    assert await authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) is not None
    # Reactivation raised the version again, so bcrypt ran once more.
    assert counter.calls == 1


@pytest.mark.gen_test
async def test_unknown_user_pays_bcrypt(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CheckCounter(gateway, monkeypatch)

    assert await gateway.authenticator.authenticate("nobody", PASSWORD, ADDRESS) is None
    assert (
        await gateway.authenticator.authenticate("n" * 151, PASSWORD, ADDRESS) is None
    )

    assert counter.calls == 2


@pytest.mark.gen_test
async def test_busy_when_queue_full(gateway: Gateway, make_user: UserFactory) -> None:
    make_user("partner-sa", SERVICE_ACCOUNT)
    authenticator = UserAuthenticator(
        gateway.hasher, CredentialCache(60), max_pending=1
    )

    first = asyncio.ensure_future(
        authenticator.authenticate("partner-sa", PASSWORD, ADDRESS)
    )
    await asyncio.sleep(0)
    assert authenticator.pending == 1

    with pytest.raises(BusyError):
        await authenticator.authenticate("partner-sa", "wrong", "192.0.2.2")

    assert await first is not None
    assert authenticator.pending == 0


@pytest.mark.gen_test
async def test_busy_per_address_share(gateway: Gateway, make_user: UserFactory) -> None:
    make_user("partner-sa", SERVICE_ACCOUNT)
    authenticator = UserAuthenticator(
        gateway.hasher, CredentialCache(60), max_pending=10, max_pending_per_address=2
    )

    flood = [
        asyncio.ensure_future(
            authenticator.authenticate("partner-sa", f"wrong {number}", ADDRESS)
        )
        for number in range(2)
    ]
    await asyncio.sleep(0)
    assert authenticator.pending == 2

    with pytest.raises(BusyError):
        await authenticator.authenticate("partner-sa", "wrong 3", ADDRESS)
    other = await authenticator.authenticate("partner-sa", PASSWORD, "192.0.2.2")

    assert other is not None
    assert await asyncio.gather(*flood) == [None, None]
    assert authenticator.pending == 0


@pytest.mark.gen_test
async def test_same_credential_shares_one_check(
    gateway: Gateway, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("partner-sa", SERVICE_ACCOUNT)
    counter = CheckCounter(gateway, monkeypatch)
    authenticator = UserAuthenticator(
        gateway.hasher, CredentialCache(60), max_pending=1, max_pending_per_address=1
    )

    results = await asyncio.gather(
        *(authenticator.authenticate("partner-sa", PASSWORD, ADDRESS) for _ in range(5))
    )

    assert [result.id if result else None for result in results] == [user.id] * 5
    assert counter.calls == 1
    assert authenticator.pending == 0
