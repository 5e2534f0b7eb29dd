"""The campaign's live numbers (a small JSON view the campaign page polls while sending), its
dashboard (every analytics section as a chart) and the comparison of chosen campaigns.

Charts are drawn in the browser by Chart.js, served from our static files
(campaigns/static/campaigns/vendor/, no CDN) by campaigns/static/campaigns/dashboard.js; the
pages carry their data as JSON (`json_script`), never inline code. The analytics come from
the registered stats panels (tracking adds the API's analytics), so campaigns never imports
tracking; without them the dashboard shows what the recipient rows give.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from fliptech.ids import parse_pk

from ..models import Campaign
from ..selectors import campaign_live, campaign_metrics
from .shared import by_pk
from .stats import campaign_panels, hourly_fallback

# The dashboard's charts, in page order: (section id in dashboard.js, title).
SECTIONS = [
    ("hourly", "Sends, opens and clicks per hour"),
    ("devices", "Opens by device"),
    ("clients", "Opens by email client"),
    ("countries", "Opens and clicks by country"),
    ("domains", "Recipient domains"),
    ("links", "Top links"),
    ("bounces", "Bounce reasons"),
    ("engagement", "Median time to open / click (minutes)"),
]
MAX_COMPARED = 10
COMPARED_RATES = ["open_rate", "click_rate", "click_to_open_rate", "reply_rate", "bounce_rate", "unsubscribe_rate"]


def dashboard_urls(model_admin):
    """URL patterns for CampaignAdmin.get_urls (before the admin's own)."""
    wrap = model_admin.admin_site.admin_view

    def route(suffix, view, name):
        return path(suffix, wrap(lambda request, **kw: view(model_admin, request, **kw)), name=name)

    return [
        route("compare/", compare_view, "campaigns_campaign_compare"),
        route("<path:object_id>/live.json", live_json, "campaigns_campaign_live"),
        route("<path:object_id>/dashboard/", dashboard_view, "campaigns_campaign_dashboard"),
    ]


def _viewable(model_admin, request, object_id) -> Campaign:
    campaign = by_pk(Campaign.objects, object_id)
    if campaign is None:
        raise Http404("No campaign matches the given id.")
    if not model_admin.has_view_permission(request, campaign):
        raise PermissionDenied
    return campaign


def live_json(model_admin, request, object_id):
    """`campaign_live` as JSON. Queries: the session, the user (and a non-superuser's
    permissions, once per request), the campaign, its counter rows."""
    return JsonResponse(campaign_live(campaign=_viewable(model_admin, request, object_id)))


def dashboard_view(model_admin, request, object_id):
    campaign = _viewable(model_admin, request, object_id)
    extra = campaign_panels(campaign)
    analytics = extra.get("analytics") or {
        "stats": None,
        **{f"hourly_{k}": v for k, v in hourly_fallback(campaign).items()},
    }
    metrics = campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
    if analytics.get("stats"):
        metrics = analytics["stats"]["metrics"]
    return TemplateResponse(
        request,
        "admin/campaigns/campaign/dashboard.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "original": campaign,
            "title": f"Dashboard: {campaign.name}",
            "metrics": metrics,
            "analytics": analytics,
            "engagement": analytics.get("engagement") or {},
            "sections": SECTIONS,
        },
    )


def compare_redirect(queryset):
    """Where the list's *Compare selected campaigns* action sends the browser."""
    ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True)[:MAX_COMPARED])
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_compare") + "?" + urlencode({"ids": ids}))


def compare_view(model_admin, request):
    """Rates of the campaigns `?ids=1,2,…` (at most MAX_COMPARED) side by side: one query for
    the campaigns, one for all their counters."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    ids = []
    for part in request.GET.get("ids", "").split(",")[: MAX_COMPARED * 2]:
        pk = parse_pk(part.strip())
        if pk and pk not in ids:
            ids.append(pk)
    campaigns = list(Campaign.objects.filter(pk__in=ids[:MAX_COMPARED]).order_by("pk"))
    metrics = campaign_metrics(campaign_ids=[c.pk for c in campaigns])
    rows = [
        {"campaign": c, "sent": metrics[c.pk]["emails_sent"], "values": [metrics[c.pk][r] for r in COMPARED_RATES]}
        for c in campaigns
    ]
    chart = {
        "labels": [c.name for c in campaigns],
        "rates": COMPARED_RATES,
        "values": {rate: [metrics[c.pk][rate] for c in campaigns] for rate in COMPARED_RATES},
    }
    return TemplateResponse(
        request,
        "admin/campaigns/campaign/compare.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": "Compare campaigns",
            "rows": rows,
            "rates": COMPARED_RATES,
            "chart": chart,
            "max_compared": MAX_COMPARED,
        },
    )
