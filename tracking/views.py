"""What recipients' mail clients hit: the open pixel, click redirects, unsubscribe.

No login, no cookies, no CSRF token (mail providers' one-click unsubscribe has none).
Tokens are `CampaignRecipient.token`: random, carrying no personal data. What a pixel or
click records is `tracking/hits.py`, shared with the WSGI shortcut (`tracking/fastpath.py`)
that serves those two paths in production; these views serve them everywhere else (the test
client, a server run without the shortcut).
"""

from django.db import DatabaseError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import sending
from campaigns.models import CampaignRecipient

from . import hits, services


@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token):
    """Always the GIF, 200, whatever the token and whatever fails behind it."""
    hits.record_open(token, hits.hit_of(request.META))
    response = HttpResponse(hits.PIXEL, content_type="image/gif")
    for name, value in hits.PIXEL_HEADERS.items():
        response[name] = value
    return response


@require_http_methods(["GET", "HEAD"])
def click(request, token, link_id):
    """302 to the URL stored for this link of the recipient's campaign; 404 otherwise.

    The target comes only from `CampaignLink.url`; no request parameter is read.
    """
    try:
        url = hits.click_target(token, link_id, hits.hit_of(request.META))
    except DatabaseError:
        return HttpResponse(hits.UNAVAILABLE, status=503, content_type="text/plain")
    if url is None:
        raise Http404("Unknown link.")
    response = HttpResponseRedirect(url)
    for name, value in hits.CLICK_HEADERS.items():
        response[name] = value
    return response


def _recipient(token, *related):
    if not token or len(token) > hits.TOKEN_MAX:
        raise CampaignRecipient.DoesNotExist
    return CampaignRecipient.objects.select_related(*related).get(token=token)


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
        ip_address=hits.client_ip(request.META),
        one_click=request.POST.get("List-Unsubscribe") == "One-Click",
    )
    return render(request, "tracking/unsubscribe.html", {**context, "state": "unsubscribed"})


@require_http_methods(["GET", "HEAD"])
def view_in_browser(request, token):
    """The recipient's message as a web page (`view_in_browser_url`): its links tracked as in
    the message, no open pixel, nothing recorded; an unknown token (or a deleted campaign) → 404."""
    recipient = (
        CampaignRecipient.objects.select_related("campaign__template", "lead")
        .filter(token=token, campaign__deleted_at__isnull=True, campaign__template__isnull=False)
        .first()
    )
    if recipient is None:
        raise Http404("No such message.")
    response = HttpResponse(sending.web_version(recipient.campaign, recipient))
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
