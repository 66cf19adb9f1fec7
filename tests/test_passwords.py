"""Password hashing: bcrypt behind a SHA-256 prehash, run in the thread pool."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordError,
    PasswordHasher,
    generate_password,
    validate_new_password,
)

ROUNDS = 4


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(ROUNDS)


def test_hash_and_check(hasher: PasswordHasher) -> None:
    password_hash = hasher.hash_now("correct horse battery")

    assert password_hash.startswith("$2b$04$")
    assert "correct horse" not in password_hash
    assert hasher.check_now("correct horse battery", password_hash) is True
    assert hasher.check_now("correct horse batterY", password_hash) is False


def test_same_password_different_salt(hasher: PasswordHasher) -> None:
    assert hasher.hash_now("same password") != hasher.hash_now("same password")


def test_bytes_past_72_still_count(hasher: PasswordHasher) -> None:
    # Plain bcrypt reads 72 bytes only, so these two would match each other.
    prefix = "x" * 72
    password_hash = hasher.hash_now(prefix + "A")

    assert hasher.check_now(prefix + "A", password_hash) is True
    assert hasher.check_now(prefix + "B", password_hash) is False
    assert hasher.check_now(prefix, password_hash) is False


def test_multibyte_characters_past_72_bytes(hasher: PasswordHasher) -> None:
    prefix = "ü" * 36  # 72 bytes in UTF-8
    password_hash = hasher.hash_now(prefix + "ä")

    assert hasher.check_now(prefix + "ä", password_hash) is True
    assert hasher.check_now(prefix + "ö", password_hash) is False


def test_nul_byte_does_not_end_password(hasher: PasswordHasher) -> None:
    password_hash = hasher.hash_now("abc\x00def")

    assert hasher.check_now("abc\x00def", password_hash) is True
    assert hasher.check_now("abc\x00xyz", password_hash) is False
    assert hasher.check_now("abc", password_hash) is False


def test_missing_hash_never_matches(hasher: PasswordHasher) -> None:
    assert hasher.check_now("anything", None) is False
    assert hasher.check_now("", None) is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$2b$04$short"])
def test_malformed_stored_hash_never_matches(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.check_now("anything", stored) is False


def test_rounds_setting_is_cost(hasher: PasswordHasher) -> None:
    assert PasswordHasher(5).hash_now("password").startswith("$2b$05$")


@pytest.mark.gen_test
async def test_async_check_runs_in_executor() -> None:
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bcrypt")
    hasher = PasswordHasher(ROUNDS, executor)
    threads: list[str] = []
    original = hasher.check_now

    def check_now(password: str, password_hash: str | None) -> bool:
        threads.append(threading.current_thread().name)
        return original(password, password_hash)

    hasher.check_now = check_now  # type: ignore[method-assign]
    try:
        password_hash = await hasher.hash("long enough")
        assert await hasher.check("long enough", password_hash) is True
        assert await hasher.check("wrong", password_hash) is False
    finally:
        executor.shutdown()

    assert len(threads) == 2
    assert all(name.startswith("bcrypt") for name in threads)
    assert threading.current_thread().name not in threads


def test_validate_new_password_length() -> None:
    validate_new_password("x" * MIN_PASSWORD_LENGTH)
    validate_new_password("x" * MAX_PASSWORD_LENGTH)

    with pytest.raises(PasswordError, match="too short"):
        validate_new_password("x" * (MIN_PASSWORD_LENGTH - 1))
    with pytest.raises(PasswordError, match="too long"):
        validate_new_password("x" * (MAX_PASSWORD_LENGTH + 1))


def test_generated_password_is_long_and_random() -> None:
    first, second = generate_password(), generate_password()

    assert len(first) >= 43
    assert first != second
    validate_new_password(first)
