"""The glue between django-anymail's webhook views and this site.

Anymail's tracking (and inbound) webhook URLs are mounted under ``/anymail/`` by
`tracking/urls.py` through `guarded`: each view refuses to work outside DEBUG without
``ANYMAIL_WEBHOOK_SECRET`` (403), answers 404 for a provider not configured here and 400 for a
body its parser cannot read — never a 500 for a request's fault. What an accepted event
records is `tracking/receivers.py` (anymail's `tracking` signal).
"""

import functools
import logging
from io import BytesIO

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.urls import URLPattern

log = logging.getLogger(__name__)


def webhook_secret_configured() -> bool:
    return bool((getattr(settings, "ANYMAIL", None) or {}).get("WEBHOOK_SECRET"))


class WebhookPayloadInvalid(SuspiciousOperation):
    """A webhook body the provider's parser cannot read: Django answers 400, as it does for
    anymail's own AnymailWebhookValidationFailure."""


# What anymail's parsers raise on a body that is not the provider's shape: invalid JSON or
# UTF-8 (ValueError), a missing key, a list where an object belongs, an unknown SNS type …
PAYLOAD_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, AnymailAPIError)


try:
    from botocore.exceptions import BotoCoreError, ClientError

    AWS_ERRORS = (BotoCoreError, ClientError)
except ImportError:  # boto3 is only needed for Amazon SES
    AWS_ERRORS = ()


def checked_webhook_view(view):
    """Anymail's webhook `view` (an as_view() function), answering 404 when its provider is
    not configured here (anymail raises AnymailConfigurationError, a 500) and 400 when the
    body cannot be validated or parsed. Only checking and parsing are covered: they happen
    before anything is recorded, and an error while recording an event stays a 500, which
    providers take as "retry later"."""
    base = view.view_class
    inbound = "Inbound" in base.__name__

    def not_configured(exc):
        log.warning("anymail %s webhook called but not configured: %s", base.esp_name, exc)
        return HttpResponseNotFound("This provider's webhook is not configured here.")

    class Checked(base):
        def __init__(self, **kwargs):
            self.configuration_error = None
            try:
                super().__init__(**kwargs)
            except AnymailConfigurationError as exc:
                self.configuration_error = exc

        def dispatch(self, request, *args, **kwargs):
            if self.configuration_error is not None:
                return not_configured(self.configuration_error)
            if inbound:
                too_big = read_inbound_body(request)
                if too_big is not None:
                    return too_big
            return super().dispatch(request, *args, **kwargs)

        def run_validators(self, request):
            try:
                return super().run_validators(request)
            except AnymailConfigurationError as exc:  # e.g. Mandrill checks its key only here
                log.warning("anymail %s webhook called but not configured: %s", base.esp_name, exc)
                raise Http404("This provider's webhook is not configured here.") from exc
            except PAYLOAD_ERRORS as exc:
                raise WebhookPayloadInvalid(f"{base.esp_name} webhook: unreadable request ({exc!r:.200})") from exc

        def auto_confirm_sns_subscription(self, sns_message):
            # Amazon SES: confirming needs AWS credentials (boto3); without them, or when AWS
            # refuses, the subscription is left for the operator to confirm: never a 500.
            try:
                return super().auto_confirm_sns_subscription(sns_message)
            except AWS_ERRORS as exc:
                log.error(
                    "Amazon SNS subscription to %r not confirmed (%s): confirm it in the SNS console",
                    str(sns_message.get("TopicArn"))[:200],
                    type(exc).__name__,
                )

        def parse_events(self, request):
            try:
                return super().parse_events(request)
            # A configuration error here is a payload of another kind of webhook (Postmark
            # says "you set the Bounce webhook to the inbound URL"): the body is wrong.
            except (*PAYLOAD_ERRORS, AnymailConfigurationError) as exc:
                raise WebhookPayloadInvalid(f"{base.esp_name} webhook: unreadable payload ({exc!r:.200})") from exc

    Checked.__name__ = Checked.__qualname__ = base.__name__
    return Checked.as_view(**view.view_initkwargs)


def read_inbound_body(request):
    """Inbound mail may carry big attachments (a 25 MB file is common): read the body up to
    INBOUND_MAX_BYTES (40 MB) instead of Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so a
    reply is never refused for its attachment. None, or a 413 beyond the limit."""
    limit = getattr(settings, "INBOUND_MAX_BYTES", 40 * 1024 * 1024)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        log.warning("inbound webhook body of %d bytes refused (INBOUND_MAX_BYTES %d)", length, limit)
        return HttpResponse("The message is larger than this site accepts.", status=413)
    if not hasattr(request, "_body") and request.content_type != "multipart/form-data":
        request._body = request.read(limit + 1)
        request._stream = BytesIO(request._body)
    return None


def require_webhook_secret(view):
    """Anymail only warns when ANYMAIL WEBHOOK_SECRET is unset; outside DEBUG we refuse
    (403) instead of accepting provider events from anyone on the web."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not settings.DEBUG and not webhook_secret_configured():
            log.error("anymail webhook refused: set ANYMAIL_WEBHOOK_SECRET (user:pass) outside DEBUG")
            return HttpResponseForbidden("Webhooks are disabled until ANYMAIL_WEBHOOK_SECRET is set.")
        return view(request, *args, **kwargs)

    wrapped.csrf_exempt = True
    return wrapped


def guarded(patterns):
    """Anymail's webhook URL `patterns`, each refusing to work outside DEBUG without a
    secret, and answering 4xx, not 500, for a provider not configured or a body it cannot
    read."""
    return [
        URLPattern(p.pattern, require_webhook_secret(checked_webhook_view(p.callback)), p.default_args, p.name)
        for p in patterns
    ]
