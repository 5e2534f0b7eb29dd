"""What recipients' mail clients hit: the open pixel, click redirects, unsubscribe.

No login, no cookies, no CSRF token (mail providers' one-click unsubscribe has none).
Tokens are `CampaignRecipient.token`: random, carrying no personal data.
"""

import functools
import ipaddress
import logging

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpResponse, HttpResponseForbidden, HttpResponseNotFound, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import CampaignRecipient

from . import services
from .models import EmailTracking

log = logging.getLogger(__name__)

# The smallest transparent 1×1 GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
assert len(PIXEL) == 43

TOKEN_MAX = 64


def client_ip(environ) -> str | None:
    """The client address as the WSGI server saw it (`environ`: the WSGI environ or a
    request's META). Behind a proxy, configure the proxy to set REMOTE_ADDR — e.g.
    gunicorn's --forwarded-allow-ips — rather than trusting a client-supplied
    X-Forwarded-For here."""
    value = environ.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None  # e.g. a unix socket: no address


def hit_of(environ) -> dict:
    """What a pixel or click hit records of its request: user agent, address, method.
    `environ` is the WSGI environ (or a Django request's META)."""
    return {
        "user_agent": environ.get("HTTP_USER_AGENT", ""),
        "ip_address": client_ip(environ),
        "method": environ.get("REQUEST_METHOD", "GET"),
    }


def record_open(token, hit: dict) -> None:
    """Record an open for `token` (`hit` from `hit_of`). Never raises: the pixel is served
    whatever the token and whatever fails behind it, and a failure is logged."""
    try:
        if 0 < len(token) <= TOKEN_MAX:
            services.hit_record(token=token, event_type=EmailTracking.EventType.OPEN, **hit)
    except Exception:  # the pixel must never break a mail client's render
        log.exception("open pixel: could not record an open")


def _recipient(token, *related):
    if not token or len(token) > TOKEN_MAX:
        raise CampaignRecipient.DoesNotExist
    return CampaignRecipient.objects.select_related(*related).get(token=token)


@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token):
    """Always the GIF, 200, whatever the token and whatever fails behind it."""
    record_open(token, hit_of(request.META))
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


# Headers of a click redirect besides Location.
CLICK_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
UNAVAILABLE = "Temporarily unavailable, please try again."


@require_http_methods(["GET", "HEAD"])
def click(request, token, link_id):
    """302 to the URL stored for this link of the recipient's campaign; 404 otherwise.

    The target comes only from `CampaignLink.url`; no request parameter is read.
    """
    try:
        url = click_target(token, link_id, hit_of(request.META))
    except DatabaseError:
        return HttpResponse(UNAVAILABLE, status=503, content_type="text/plain")
    if url is None:
        raise Http404("Unknown link.")
    response = HttpResponseRedirect(url)
    for name, value in CLICK_HEADERS.items():
        response[name] = value
    return response


def click_target(token, link_id, hit: dict) -> str | None:
    """Record a click (`hit` from `hit_of`) and return the link's URL, or None for an
    unknown token or a link not of its campaign. A DatabaseError is logged and raised.
    Stored links are always http(s) (`campaigns.rendering` tracks no other)."""
    try:
        found, url = services.hit_record(
            token=token, event_type=EmailTracking.EventType.CLICK, link_id=int(link_id), **hit
        )
    except DatabaseError:
        log.exception("click: database unavailable")
        raise
    return url if found else None


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST", "HEAD"])
def unsubscribe(request, token):
    """GET (and HEAD) show the confirm page and change nothing (scanners follow GETs).

    POST unsubscribes: the page's button, or RFC 8058 one-click
    (body `List-Unsubscribe=One-Click`) from a mail provider — no cookie, no CSRF token.
    POST with `action=resubscribe` undoes this link's unsubscribe.
    """
    try:
        recipient = _recipient(token, "campaign")
    except CampaignRecipient.DoesNotExist:
        raise Http404("Unknown unsubscribe link.") from None
    context = {"recipient": recipient, "campaign": recipient.campaign, "token": token}
    if request.method != "POST":
        return render(request, "tracking/unsubscribe.html", {**context, "state": "confirm"})
    if request.POST.get("action") == "resubscribe":
        services.resubscribe(recipient=recipient)
        return render(request, "tracking/unsubscribe.html", {**context, "state": "resubscribed"})
    services.unsubscribe(
        recipient=recipient,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ip_address=client_ip(request.META),
        one_click=request.POST.get("List-Unsubscribe") == "One-Click",
    )
    return render(request, "tracking/unsubscribe.html", {**context, "state": "unsubscribed"})


def webhook_secret_configured() -> bool:
    return bool((getattr(settings, "ANYMAIL", None) or {}).get("WEBHOOK_SECRET"))


class WebhookPayloadInvalid(SuspiciousOperation):
    """A webhook body the provider's parser cannot read: Django answers 400, as it does for
    anymail's own AnymailWebhookValidationFailure."""


# What anymail's parsers raise on a body that is not the provider's shape: invalid JSON or
# UTF-8 (ValueError), a missing key, a list where an object belongs, an unknown SNS type …
PAYLOAD_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, AnymailAPIError)


def checked_webhook_view(view):
    """Anymail's webhook `view` (an as_view() function), answering 404 when its provider is
    not configured here (anymail raises AnymailConfigurationError, a 500) and 400 when the
    body cannot be validated or parsed. Only checking and parsing are covered: they happen
    before anything is recorded, and an error while recording an event stays a 500, which
    providers take as "retry later"."""
    base = view.view_class

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
            return super().dispatch(request, *args, **kwargs)

        def run_validators(self, request):
            try:
                return super().run_validators(request)
            except AnymailConfigurationError as exc:  # e.g. Mandrill checks its key only here
                log.warning("anymail %s webhook called but not configured: %s", base.esp_name, exc)
                raise Http404("This provider's webhook is not configured here.") from exc
            except PAYLOAD_ERRORS as exc:
                raise WebhookPayloadInvalid(f"{base.esp_name} webhook: unreadable request ({exc!r:.200})") from exc

        def parse_events(self, request):
            try:
                return super().parse_events(request)
            # A configuration error here is a payload of another kind of webhook (Postmark
            # says "you set the Bounce webhook to the inbound URL"): the body is wrong.
            except (*PAYLOAD_ERRORS, AnymailConfigurationError) as exc:
                raise WebhookPayloadInvalid(f"{base.esp_name} webhook: unreadable payload ({exc!r:.200})") from exc

    Checked.__name__ = Checked.__qualname__ = base.__name__
    return Checked.as_view(**view.view_initkwargs)


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
