"""API glue shared by every app: the error shape, the list shape, string checks and the
documented error answers."""

import json

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import errors
from .ids import MAX_PK, parse_pk
from .text import has_line_break


class BadRequest(exceptions.APIException):
    """A 400 that is about the request as a whole rather than one field:
    answered as `{"detail", "code"}` (pass `code=` for the machine code)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request cannot be carried out."
    default_code = "bad_request"


class RequestTooLarge(exceptions.APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django raises RequestDataTooBig, which it
    would answer with its HTML 400 page)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is over its size limit."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    """A 409: the object's state forbids the move (`fliptech.errors.Conflict`)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's state does not allow this."
    default_code = "conflict"


class TooLarge(exceptions.APIException):
    """A 413: over a size limit (`fliptech.errors.TooLarge`)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def as_api_exception(exc: errors.DomainError) -> exceptions.APIException:
    """A service's refusal as the DRF exception that answers it."""
    if isinstance(exc, errors.Invalid):
        return ValidationError(exc.fields, code=exc.code)
    if isinstance(exc, errors.NotFound):
        return exceptions.NotFound(exc.message, code=exc.code)
    if isinstance(exc, errors.Conflict):
        return Conflict(exc.message, code=exc.code)
    if isinstance(exc, errors.TooLarge):
        return TooLarge(exc.message, code=exc.code)
    if isinstance(exc, errors.Throttled):
        throttled = exceptions.Throttled(wait=exc.retry_after, code=exc.code)
        throttled.detail = exceptions.ErrorDetail(exc.message, code=exc.code)
        return throttled
    return BadRequest(exc.message, code=exc.code)


def exception_handler(exc, context):
    """Validation errors keep DRF's `{"field": [...]}`; every other error is
    `{"detail": "human sentence", "code": "machine_code"}`. A service's refusal
    (`fliptech.errors.DomainError`) is answered like its DRF counterpart: Conflict 409,
    TooLarge 413, Throttled 429, NotFound 404, BadRequest 400 `{"detail", "code"}`, Invalid 400 field errors."""
    extra = None
    if isinstance(exc, errors.DomainError):
        extra = exc.extra
        exc = as_api_exception(exc)
    # Django's own 404/403 carry no code: give them DRF's.
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = BadRequest("The form has too many fields.", code="too_many_fields")
    response = drf_exception_handler(exc, context)
    if response is None:
        return response
    if isinstance(exc, ValidationError):
        # A message may quote the input ("“\ud800” is not a valid choice."): a lone surrogate
        # there cannot be encoded as UTF-8, so the answer would fail to render (a 500).
        response.data = _encodable(response.data)
        return response
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        response.data = {"detail": str(detail), "code": getattr(detail, "code", None) or exc.default_code}
        if extra:
            response.data.update(extra)
    return response


def _encodable(data):
    """`data` (an error answer) with every lone surrogate in its strings and keys written as
    a `\\udxxx` escape."""
    if isinstance(data, str):
        return data.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(data, dict):
        return {_encodable(key): _encodable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_encodable(item) for item in data]
    return data


def page_not_found(request, exception=None):
    """handler404: a path under /api/ that matches no route answers in the API's error
    shape; every other path keeps Django's HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "No API endpoint at this path.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


# --- Strings, checked before the database sees them ------------------------------------
# DRF's CharField already refuses NUL bytes and lone surrogates and enforces max_length.
# What it does not refuse is a line break in a value that ends up in a mail header
# (header injection), hence this validator.


def no_line_breaks(value):
    """Refuse CR, LF and other line separators: the value goes into a mail header."""
    if isinstance(value, str) and has_line_break(value):
        raise ValidationError("Line breaks are not allowed here.", code="line_break")


def storable_json(value):
    """Refuse JSON data that PostgreSQL's jsonb cannot hold: a NUL character or a lone
    surrogate anywhere in it, keys included."""
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text:
        raise ValidationError("NUL characters are not allowed.", code="null_characters_not_allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Invalid Unicode (lone surrogate).", code="surrogate_characters_not_allowed") from None


class HeaderCharField(serializers.CharField):
    """A CharField for a value written into a mail header (subject, from name, …)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(no_line_breaks)


class IdField(serializers.IntegerField):
    """An id in a body or query, read by `fliptech.ids.parse_pk`: what is no integer at all
    keeps DRF's messages, 0 and past 64 bits its range messages, and a valid id written
    otherwise ("١٢", "1.0", 1.0) is "A valid integer is required."."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_PK)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        pk = parse_pk(data)
        if pk is not None:
            return pk
        number = super().to_internal_value(data)
        if 0 < number <= MAX_PK:
            self.fail("invalid")
        return number


class IdRelatedField(serializers.PrimaryKeyRelatedField):
    """A PrimaryKeyRelatedField that accepts only a database id (`fliptech.ids.parse_pk`:
    an integer, or a string of ASCII digits, in 1..MAX_PK) before any query: floats (1e308,
    inf), booleans, "²" and huge numbers are an "incorrect type"/"does not exist" 400, not a
    database overflow."""

    def to_internal_value(self, data):
        pk = parse_pk(data)
        if pk is not None:
            return super().to_internal_value(pk)
        if isinstance(data, str) and data.isascii() and data.isdigit():
            # 0 or past 64 bits; past 19 digits it is shown as MAX_PK + 1, not repeated.
            self.fail("does_not_exist", pk_value=int(data) if len(data) <= 19 else MAX_PK + 1)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        self.fail("does_not_exist", pk_value=data)


# --- Documented error answers ----------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """Every error but a field validation error."""

    detail = serializers.CharField(help_text="A human sentence.")
    code = serializers.CharField(help_text="A machine code, e.g. invalid_state, not_found, not_authenticated.")


_MESSAGES = {"type": "array", "items": {"type": "string"}}


def _field_errors(depth: int) -> dict:
    """A field's errors in DRF's shape: its messages, or — for a nested object, a list of
    objects or a list field — the same shape one level down (`{"lead_filters": {"bogus":
    [...]}}`, `{"leads": [{}, {"email": [...]}]}`, `{"lead_ids": {"0": [...]}}`)."""
    if depth == 0:
        return _MESSAGES
    inner = _field_errors(depth - 1)
    return {
        "anyOf": [
            _MESSAGES,
            {"type": "object", "additionalProperties": inner},
            {"type": "array", "items": {"type": "object", "additionalProperties": inner}},
        ]
    }


VALIDATION_ERROR_SCHEMA = {
    "description": (
        'Field errors in DRF\'s shape `{"field": ["message", …]}` (`non_field_errors` for the '
        "body as a whole; a nested object's or list's errors nest the same way, e.g. "
        '`{"lead_ids": {"0": ["…"]}}`), or `{"detail", "code"}` when the request as a whole is '
        "refused (e.g. `parse_error`, `no_recipients`, `template_error`, `template_too_costly`)."
    ),
    "oneOf": [
        {
            "type": "object",
            "title": "FieldErrors",
            "additionalProperties": _field_errors(3),
        },
        {
            "type": "object",
            "title": "RequestError",
            "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
            "required": ["detail", "code"],
        },
    ],
}

_ERROR_DESCRIPTIONS = {
    400: "Validation error.",
    401: "No or invalid credentials (`Authorization: Token <key>` or a session).",
    403: "Authenticated, but without the model permission this write needs.",
    404: "No such object (or it was deleted).",
    409: "The campaign's status forbids this (`code: invalid_state`); nothing changed.",
    413: "The request is over its size limit.",
    429: "Throttled (`code: throttled`); see the Retry-After header.",
    503: "A service is down.",
}


def error_responses(*codes) -> dict:
    """`{status: OpenApiResponse}` for extend_schema(responses=…): 400 documents both the
    field-error and the `{"detail", "code"}` shapes, the others `ErrorSerializer`."""
    out = {}
    for code in codes:
        if code == 400:
            out[code] = OpenApiResponse(VALIDATION_ERROR_SCHEMA, description=_ERROR_DESCRIPTIONS[400])
        else:
            out[code] = OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS.get(code, ""))
    return out


class ListQuerySerializer(serializers.Serializer):
    # Capped so that the offset always fits a 64-bit integer (a page past the end is empty).
    page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1)
    sort_by = serializers.ChoiceField(choices=[])
    sort_order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")

    def __init__(self, *args, page_size_default, page_size_max, sort_fields, sort_default, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["page_size"] = serializers.IntegerField(
            min_value=1, max_value=page_size_max, default=page_size_default
        )
        self.fields["sort_by"] = serializers.ChoiceField(choices=list(sort_fields), default=sort_default)


class PageNumberListPagination(BasePagination):
    list_key = "results"

    """The original FlipTech list shape:
    `{"<plural>": [...], "total", "page", "page_size", "has_more"}`.

    Subclass per resource with `list_key` (see `paginated`). The view sets `page_size_default`, `page_size_max`, `sort_fields` and
    `sort_default`. `page`, `page_size`, `sort_by` and `sort_order` are validated
    (out of range → 400). A page past the end is an empty list, not a 404.
    Ordering is applied here too, with the primary key as tie-breaker so pages
    never overlap.
    """

    def paginate_queryset(self, queryset, request, view=None):
        query = ListQuerySerializer(
            data=request.query_params,
            page_size_default=getattr(view, "page_size_default", 20),
            page_size_max=getattr(view, "page_size_max", 100),
            sort_fields=getattr(view, "sort_fields", ["created_at"]),
            sort_default=getattr(view, "sort_default", "created_at"),
        )
        query.is_valid(raise_exception=True)
        q = query.validated_data
        sign = "-" if q["sort_order"] == "desc" else ""
        queryset = queryset.order_by(f"{sign}{q['sort_by']}", f"{sign}pk")
        self.page, self.page_size = q["page"], q["page_size"]
        self.total = queryset.count()
        start = (self.page - 1) * self.page_size
        return list(queryset[start : start + self.page_size])

    def get_paginated_response(self, data):
        return Response(
            {
                self.list_key: data,
                "total": self.total,
                "page": self.page,
                "page_size": self.page_size,
                "has_more": self.page * self.page_size < self.total,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [self.list_key, "total", "page", "page_size", "has_more"],
            "properties": {
                self.list_key: schema,
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "page_size": {"type": "integer"},
                "has_more": {"type": "boolean"},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 10_000_000, "default": 1},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": getattr(view, "page_size_max", 100),
                    "default": getattr(view, "page_size_default", 20),
                },
            },
            {
                "name": "sort_by",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(getattr(view, "sort_fields", ["created_at"]))},
            },
            {
                "name": "sort_order",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
            },
        ]


def paginated(list_key: str) -> type[PageNumberListPagination]:
    """The pagination class whose list is under `list_key` (e.g. "campaigns")."""
    return type(f"{list_key.title()}Pagination", (PageNumberListPagination,), {"list_key": list_key})
