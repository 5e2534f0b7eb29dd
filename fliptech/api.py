"""API glue: the error shape every endpoint shares."""

from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Validation errors keep DRF's `{"field": [...]}`; every other error is
    `{"detail": "human sentence", "code": "machine_code"}`."""
    response = drf_exception_handler(exc, context)
    if response is None or isinstance(exc, ValidationError):
        return response
    detail = getattr(exc, "detail", None)
    if isinstance(detail, (str,)) or hasattr(detail, "code"):
        response.data = {"detail": str(detail), "code": getattr(detail, "code", None) or exc.default_code}
    return response
