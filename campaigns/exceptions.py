from rest_framework import status
from rest_framework.exceptions import APIException


class InvalidState(APIException):
    """The campaign's (or recipient's) status forbids the requested move."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The campaign's status does not allow this."
    default_code = "invalid_state"


class TemplateError(APIException):
    """A template does not compile or does not render."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The template does not render."
    default_code = "template_error"
