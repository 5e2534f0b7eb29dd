"""The campaign domain's refusals. Plain exceptions (see `fliptech.errors`): the API's
exception handler answers them (409/404/400 in the documented shapes), the admin and beat
show them as one sentence (`fliptech.errors.describe`)."""

from fliptech.errors import BadRequest, Conflict, DomainError, Invalid, NotFound

__all__ = ["BadRequest", "DomainError", "Invalid", "InvalidState", "NotFound", "TemplateError", "TemplateTooCostly"]


class InvalidState(Conflict):
    """The campaign's (or recipient's) status forbids the requested move (409)."""

    default_message = "The campaign's status does not allow this."
    default_code = "invalid_state"


class TemplateError(BadRequest):
    """A template does not compile or does not render (400)."""

    default_message = "The template does not render."
    default_code = "template_error"


class TemplateTooCostly(TemplateError):
    """A template over the render budget: too slow or too large (400, CONTRACT.md)."""

    default_message = "The template is over the render budget."
    default_code = "template_too_costly"
