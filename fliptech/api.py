"""API glue shared by every app: the error shape and the list shape."""

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Validation errors keep DRF's `{"field": [...]}`; every other error is
    `{"detail": "human sentence", "code": "machine_code"}`."""
    response = drf_exception_handler(exc, context)
    if response is None or isinstance(exc, ValidationError):
        return response
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        response.data = {"detail": str(detail), "code": getattr(detail, "code", None) or exc.default_code}
    return response


class ListQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
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
            {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "default": 1}},
            {
                "name": "page_size", "in": "query", "required": False,
                "schema": {
                    "type": "integer", "minimum": 1,
                    "maximum": getattr(view, "page_size_max", 100),
                    "default": getattr(view, "page_size_default", 20),
                },
            },
            {"name": "sort_by", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(getattr(view, "sort_fields", ["created_at"]))}},
            {"name": "sort_order", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"}},
        ]


def paginated(list_key: str) -> type[PageNumberListPagination]:
    """The pagination class whose list is under `list_key` (e.g. "campaigns")."""
    return type(f"{list_key.title()}Pagination", (PageNumberListPagination,), {"list_key": list_key})
