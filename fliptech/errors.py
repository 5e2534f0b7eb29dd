"""The refusals a service raises, free of any web framework.

Services (`campaigns.services`, `campaigns.audience`, …) raise these; the edges turn them
into answers: the API's exception handler (`fliptech.api.exception_handler`) into the
documented HTTP answers, the admin and beat into one sentence through `describe`.

- `Conflict` (409 `{"detail", "code"}`): the object's state forbids the move.
- `NotFound` (404): also a Django `Http404`, so a plain Django view answers 404 too.
- `BadRequest` (400 `{"detail", "code"}`): the request as a whole cannot be carried out.
- `Invalid` (400 `{"field": ["message", …]}`): field errors, DRF's validation shape (also
  nested: `{"field": {"2": ["message"]}}`).
"""

from django.http import Http404


class DomainError(Exception):
    """A service's refusal: a human `message` and a machine `code`."""

    default_message = "The request cannot be carried out."
    default_code = "error"
    # More keys of the `{"detail", "code"}` answer (e.g. launch's `not_ready` adds `checks`).
    extra: dict | None = None

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.message = str(message) if message is not None else self.default_message
        self.code = code or self.default_code
        super().__init__(self.message)


class Conflict(DomainError):
    default_message = "The object's state does not allow this."
    default_code = "conflict"


class NotFound(DomainError, Http404):
    default_message = "Not found."
    default_code = "not_found"


class BadRequest(DomainError):
    default_code = "bad_request"


class TooLarge(DomainError):
    """413 `{"detail", "code"}`: the request is over a size limit (items, bytes)."""

    default_message = "The request is too large."
    default_code = "too_large"


class Invalid(DomainError):
    """Field errors: `fields` is `{"field": ["message", …]}` — or, for a field holding a list
    or an object, `{"field": {"2": ["message", …]}}` (the messages of its item 2)."""

    default_code = "invalid"

    def __init__(self, fields: dict, *, code: str | None = None):
        self.fields = {name: _field_messages(msgs) for name, msgs in fields.items()}
        super().__init__(describe_fields(self.fields), code=code)

    def messages(self) -> list[str]:
        """Every message, flat (a form's list of errors)."""
        return _flat(self.fields)


def _field_messages(msgs):
    if isinstance(msgs, dict):
        return {str(key): _field_messages(value) for key, value in msgs.items()}
    return list(msgs) if isinstance(msgs, (list, tuple)) else [msgs]


def _flat(msgs) -> list[str]:
    if isinstance(msgs, dict):
        return [m for value in msgs.values() for m in _flat(value)]
    if isinstance(msgs, (list, tuple)):
        return [m for item in msgs for m in _flat(item)]
    return [str(msgs)]


def describe_fields(fields: dict) -> str:
    """`{"field": ["a", "b"]}` as "field: a b; other: c" (nested messages flattened)."""
    return "; ".join(f"{name}: {' '.join(_flat(msgs))}" for name, msgs in fields.items())


def describe(exc: Exception) -> str:
    """Any refusal as one sentence, for the admin's messages and beat's failure reasons:
    a DomainError's message, a DRF exception's `detail` (field dicts and lists flattened),
    else the exception's text."""
    if isinstance(exc, DomainError):
        return exc.message
    detail = getattr(exc, "detail", None)
    if detail is None:
        return str(exc) or exc.__class__.__name__
    if isinstance(detail, dict):
        return describe_fields(detail)
    if isinstance(detail, list):
        return " ".join(str(m) for m in detail)
    return str(detail)


class Throttled(DomainError):
    """429 `{"detail", "code"}` with `Retry-After`: a per-user quota is used up."""

    default_message = "Too many requests; try again later."
    default_code = "throttled"

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, code: str | None = None):
        self.retry_after = retry_after
        super().__init__(message, code=code)
