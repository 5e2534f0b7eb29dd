"""`ANYMAIL_*` environment variables → the ANYMAIL settings dict, typed the way anymail reads
them: the environment only has strings, and ``'false'`` is true to Python.

A key ending in one of BOOL_SUFFIXES is a boolean (1/true/yes/on, 0/false/no/off), one in
NUMBER_SUFFIXES a number, one in JSON_SUFFIXES a JSON object; any other key stays a string
(API keys may well be all digits). A value that does not parse stops the start with a
message naming the variable.
"""

import json

from django.core.exceptions import ImproperlyConfigured

# anymail's boolean, numeric and dict settings (anymail/backends, anymail/webhooks), by how
# their names end (an ESP prefix may come first: POSTMARK_USE_BULK_API).
BOOL_SUFFIXES = (
    "IGNORE_UNSUPPORTED_FEATURES",
    "IGNORE_RECIPIENT_STATUS",
    "DEBUG_API_REQUESTS",
    "USE_BULK_API",
    "GENERATE_MESSAGE_ID",
    "AUTO_CONFIRM_SNS_SUBSCRIPTIONS",
    "TRACK_INITIAL_OPEN_AS_OPENED",
)
NUMBER_SUFFIXES = ("REQUESTS_TIMEOUT", "DOWNLOAD_CHUNK_SIZE")
JSON_SUFFIXES = ("SEND_DEFAULTS", "SESSION_PARAMS", "CLIENT_PARAMS")
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def typed(key: str, value: str):
    """One ANYMAIL setting's value as anymail expects it (`key` without ANYMAIL_)."""
    text = value.strip()
    try:
        if key.endswith(BOOL_SUFFIXES):
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError("expected 1/0, true/false, yes/no or on/off")
        if key.endswith(NUMBER_SUFFIXES):
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if key.endswith(JSON_SUFFIXES):
            parsed = json.loads(text)
            if not isinstance(parsed, dict):
                raise ValueError("expected a JSON object")
            return parsed
    except ValueError as exc:
        raise ImproperlyConfigured(f"ANYMAIL_{key}={value!r}: {exc}") from exc
    return value


def anymail_settings(environ) -> dict:
    """Every non-empty ANYMAIL_<KEY> variable as ANYMAIL["<KEY>"], typed."""
    prefix = "ANYMAIL_"
    return {
        key[len(prefix) :]: typed(key[len(prefix) :], value)
        for key, value in environ.items()
        if key.startswith(prefix) and value
    }
