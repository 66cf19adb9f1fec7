"""Reading ``application/x-www-form-urlencoded`` bodies of OAuth requests."""

from __future__ import annotations

import urllib.parse

from auth.errors import InvalidRequestError
from auth.log_text import clip_for_log

# Partners copy a published guide that writes "x-www-form-urlencoded" without
# the "application/" prefix, so that spelling is read as a form too.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "x-www-form-urlencoded")
MAX_PARAMETERS = 50


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """Decode a form body; reject other media types and repeated parameters.

    RFC 6749 §3.2: parameters sent without a value are treated as omitted,
    and request and response parameters must not be included more than once.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in FORM_CONTENT_TYPES:
        raise InvalidRequestError(
            "The body must be application/x-www-form-urlencoded.",
            log_detail=f"content type {media_type[:60]!r}",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("The body is not valid UTF-8.") from None
    try:
        pairs = urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("The body is not a valid form.") from None

    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(
                "A parameter is repeated in the request.",
                log_detail=f"parameter {clip_for_log(name)} repeated",
            )
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}
