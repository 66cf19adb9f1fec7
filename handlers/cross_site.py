"""Protection of the partner API against requests forged by a browser.

The partner API authenticates with the ``Authorization`` header, which a
browser fills in by itself once a person has typed Basic credentials into its
prompt. A page on another site could then submit a form to an integration.
Current browsers mark such a request with an ``Origin`` or ``Sec-Fetch-Site``
header, and it is rejected. As a second line, a body sent as ``text/plain`` or
``multipart/form-data`` is rejected too, because those are the form encodings
that can carry a JSON-looking body. ``application/x-www-form-urlencoded`` stays
accepted because ``curl -d`` sends it by default, and a form cannot produce
JSON in it: the encoding escapes braces and quotes.
"""

from __future__ import annotations

import urllib.parse

import tornado.httputil

from handlers.base import ApiError

# Form encodings that send field names and values unescaped (HTML, "form
# submission"), so a forged form could make them look like JSON.
FORM_MEDIA_TYPES = ("multipart/form-data", "text/plain")
# Sec-Fetch-Site values of requests that a page of this gateway, or a person
# typing the URL, made.
ALLOWED_FETCH_SITES = ("same-origin", "none")


def _request_origin(request: tornado.httputil.HTTPServerRequest) -> str:
    scheme = request.protocol
    return f"{scheme}://{request.host}".lower()


def reject_cross_site(request: tornado.httputil.HTTPServerRequest) -> None:
    """Raise 403 for a request a browser sent on behalf of another site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.lower() not in ALLOWED_FETCH_SITES:
        raise ApiError(
            403,
            "cross_site_request",
            "Requests from other sites' pages are not accepted.",
            log_detail="Sec-Fetch-Site is not same-origin",
        )
    origin = request.headers.get("Origin")
    if origin is None:
        return
    parsed = urllib.parse.urlsplit(origin.strip())
    if origin.strip().lower() == "null" or (
        f"{parsed.scheme}://{parsed.netloc}".lower() != _request_origin(request)
    ):
        raise ApiError(
            403,
            "cross_site_request",
            "Requests from other sites' pages are not accepted.",
            log_detail="Origin does not match the gateway",
        )


def check_json_content_type(request: tornado.httputil.HTTPServerRequest) -> None:
    """Raise 415 for a body sent with a media type that HTML forms use."""
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in FORM_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
            log_detail=f"media type {media_type[:60]}",
        )
