"""Request input made fit for a log line: clipped, with control characters escaped."""

from __future__ import annotations

#: Characters of one request value that a log line keeps.
MAX_LOG_VALUE_LENGTH = 200
#: Characters of an error's ``log_detail``, which may quote a clipped value.
MAX_LOG_DETAIL_LENGTH = 500


def clip_for_log(value: str, limit: int = MAX_LOG_VALUE_LENGTH) -> str:
    """Cut ``value`` to ``limit`` characters and escape what is not printable.

    The escaping keeps a line break in request input from starting a forged
    log line of its own.
    """
    if len(value) > limit:
        value = f"{value[:limit]}...({len(value)} characters)"
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in value)
