"""The statistics panel of the campaign page: recipients by status, counters and rates, an
hourly chart, the top links.

`campaigns` knows only its own numbers (the counters, recipient timestamps). Another app
adds richer figures by registering a panel (`register_stats_panel`): `tracking/admin.py`
adds its stats and analytics (the same as the API's endpoints 14 and 15) this way, so
campaigns never imports tracking.
"""

import logging

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncHour

from .. import states
from ..models import CampaignRecipient
from ..selectors import campaign_metrics
from .chart import hourly_chart_svg
from .shared import recipients_url

logger = logging.getLogger(__name__)

RecipientStatus = CampaignRecipient.Status

# Callables `panel(campaign) -> dict` with any of: "stats" (a CampaignStats dict, whose
# "metrics" then replace the counters'), "series" ({"sends"|"opens"|"clicks": [{hour,
# count}]}), "top_links" (a list) and "ab" (an A/B test's results, campaigns/admin/abtest.py). Later panels override earlier ones' keys.
STATS_PANELS = []


def register_stats_panel(panel):
    """Add `panel` to the campaign page's statistics (usable as a decorator)."""
    if panel not in STATS_PANELS:
        STATS_PANELS.append(panel)
    return panel


def campaign_panels(campaign) -> dict:
    """What every registered panel adds for `campaign` (a broken panel is logged and skipped)."""
    out = {}
    for panel in STATS_PANELS:
        try:
            out.update(panel(campaign) or {})
        except Exception:  # the page must open even if a panel breaks; the log says why
            logger.exception("stats panel %s failed for campaign %s", getattr(panel, "__name__", panel), campaign.pk)
    return out


def hourly_fallback(campaign) -> dict:
    """Hourly sends and first opens/clicks from recipient timestamps alone."""
    rows = CampaignRecipient.objects.filter(campaign=campaign)

    def hourly(field):
        return list(
            rows.filter(**{f"{field}__isnull": False})
            .annotate(hour=TruncHour(field))
            .order_by()
            .values("hour")
            .annotate(count=Count("id"))
            .order_by("hour")
        )

    return {"sends": hourly("sent_at"), "opens": hourly("opened_at"), "clicks": hourly("clicked_at")}


def _progress(by_status: dict) -> float:
    """Percent of the recipients done (no longer pending or queued); `campaign_live`'s rule."""
    total = sum(by_status.values())
    waiting = by_status.get(RecipientStatus.PENDING, 0) + by_status.get(RecipientStatus.QUEUED, 0)
    return round(100 * (total - waiting) / total, 1) if total else 0.0


def stats_context(request, campaign, *, can_change: bool) -> dict:
    """The change page's template context: the panel's numbers and which buttons apply."""
    by_status = dict(
        CampaignRecipient.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("id"))
    )
    extra = campaign_panels(campaign)
    stats = extra.get("stats")
    metrics = stats["metrics"] if stats else campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
    series = extra.get("series") or hourly_fallback(campaign)
    return {
        "ft_stats": stats,
        "ft_metrics": metrics,
        "ft_by_status": [
            (label, by_status[status], recipients_url(campaign.pk, status))
            for status, label in RecipientStatus.choices
            if by_status.get(status)
        ],
        "ft_recipients_url": recipients_url(campaign.pk),
        "ft_total": sum(by_status.values()),
        "ft_progress": _progress(by_status),
        "ft_live_interval": settings.ADMIN_LIVE_POLL_MS,
        "ft_chart": hourly_chart_svg(series),
        "ft_top_links": list(extra.get("top_links", []))[:5],
        "ft_ab": extra.get("ab"),
        "ft_inbox_url": extra.get("inbox_url"),
        "ft_steps": (stats or {}).get("steps", []),
        **{f"ft_can_{name}": allowed for name, allowed in states.buttons(campaign, can_change=can_change).items()},
        "ft_test_email": request.user.email,
    }
