"""Odd request input on the pages: a clear page or 4xx, never a 500."""

from __future__ import annotations

import pytest

from handlers.web import parse_ascii_int
from models.clients import Client
from tests.pages import assert_page_headers, error_code, field_error, text
from tests.test_admin_applications import cc_form, open_new_form

# "²" (U+00B2): str.isdigit() accepts it, int() rejects it.
SUPERSCRIPT_TWO = "%C2%B2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("9" * 11, int("9" * 11)),
        ("9" * 12, None),
        ("", None),
        ("²", None),
        ("١", None),  # ARABIC-INDIC DIGIT ONE, which int() accepts
        ("+1", None),
        ("-1", None),
        (" 1", None),
        ("1_000", None),
        ("1.0", None),
    ],
)
def test_parse_ascii_int(value: str, expected: int | None) -> None:
    assert parse_ascii_int(value) == expected


def test_parse_ascii_int_max_digits() -> None:
    assert parse_ascii_int("123456", max_digits=6) == 123456
    assert parse_ascii_int("1234567", max_digits=6) is None


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "path", ["/admin/audit", "/admin/tokens", "/admin/integrations/echo"]
)
async def test_page_number_superscript(staff_user, login_as, path):
    pages = await login_as("sam")
    response = await pages.get(f"{path}?page={SUPERSCRIPT_TWO}")
    assert response.code == 200
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_application_account_superscript(staff_user, service_account, login_as):
    pages = await login_as("sam")
    _, _, pending = await open_new_form(pages)
    form = cc_form(pending, service_account.id, service_account="²")
    response = await pages.post("/admin/applications/new", form)
    assert response.code == 422
    assert_page_headers(response)
    assert field_error(response, "service_account") == (
        "The chosen user no longer exists."
    )
    assert Client.select().count() == 0


@pytest.mark.gen_test
async def test_user_id_out_of_range(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get("/admin/users/99999999999")
    assert response.code == 404
    assert_page_headers(response)
    assert error_code(response) == "not_found"
    assert "No user has this id." in text(response)
