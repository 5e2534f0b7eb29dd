"""The campaign domain's refusals. Plain exceptions (see `fliptech.errors`): the API's
exception handler answers them (409/404/400 in the documented shapes), the admin and beat
show them as one sentence (`fliptech.errors.describe`)."""

from fliptech.errors import BadRequest, Conflict, DomainError, Invalid, NotFound

__all__ = ["BadRequest", "DomainError", "Invalid", "InvalidState", "NotFound", "TemplateError"]


class InvalidState(Conflict):
    """The campaign's (or recipient's) status forbids the requested move (409)."""

    default_message = "The campaign's status does not allow this."
    default_code = "invalid_state"


class TemplateError(BadRequest):
    """A template does not compile or does not render (400)."""

    default_message = "The template does not render."
    default_code = "template_error"
