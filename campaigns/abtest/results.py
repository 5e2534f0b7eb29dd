"""Per-variant figures and the test's status, from the recipient rows in one grouped query.

People only: `opened_at` and `clicked_at` are set by human opens and clicks alone (a machine's
moves only the machine counters), `replied_at` by replies. A variant's `rate` is its metric's
count over its delivered messages (sent − bounced), in percent with 2 places, like the
campaign's rates. `significant`, `p_value` and `confidence` compare the best variant with the
runner-up (`significance.two_proportion_z_test`, α = 0.05); ties go to the earlier variant.
"""

from django.db.models import Count, Q

from .. import states
from ..models import ABTestDecision, Campaign, CampaignRecipient
from .config import METRICS
from .significance import two_proportion_z_test

R = CampaignRecipient.Status


def variant_counts(campaign: Campaign) -> dict[int, dict]:
    """{variant index: counts} over the campaign's recipients with a variant."""
    rows = (
        CampaignRecipient.objects.filter(campaign_id=campaign.pk, variant__isnull=False)
        .order_by()
        .values("variant")
        .annotate(
            recipients=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False) & ~Q(status=R.QUEUED)),
            bounced=Count("pk", filter=Q(bounced_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            replied=Count("pk", filter=Q(replied_at__isnull=False)),
        )
    )
    return {row.pop("variant"): row for row in rows}


def _rate(count: int, delivered: int) -> float:
    return round(100 * count / delivered, 2) if delivered else 0.0


def ranking(config: dict, counts: dict[int, dict]) -> list[dict]:
    """The variants in their order with figures, `rate` on the test's metric."""
    metric = METRICS[config["metric"]]
    out = []
    for index, variant in enumerate(config["variants"]):
        c = counts.get(index, {})
        sent, bounced = c.get("sent", 0), c.get("bounced", 0)
        delivered = sent - bounced
        out.append(
            {
                "index": index,
                "name": variant["name"],
                "recipients": c.get("recipients", 0),
                "sent": sent,
                "delivered": delivered,
                "opened": c.get("opened", 0),
                "clicked": c.get("clicked", 0),
                "replied": c.get("replied", 0),
                "successes": c.get(metric, 0),
                "rate": _rate(c.get(metric, 0), delivered),
            }
        )
    return out


def leader(variants: list[dict]) -> tuple[dict, dict]:
    """(best, runner-up) by rate; on equal rates the earlier variant ranks first."""
    ordered = sorted(variants, key=lambda v: (-(v["successes"] / v["delivered"] if v["delivered"] else 0), v["index"]))
    return ordered[0], ordered[1]


def _shown(variant: dict) -> dict:
    return {k: variant[k] for k in ("name", "recipients", "sent", "opened", "clicked", "replied", "rate")}


def ab_variants(campaign: Campaign) -> list[dict]:
    """The variants' figures for stats and analytics ([] without a test, and no query)."""
    if not campaign.ab_test:
        return []
    return [_shown(v) for v in ranking(campaign.ab_test, variant_counts(campaign))]


def ab_results(campaign: Campaign) -> dict | None:
    """The contract's `GET /campaigns/{id}/ab` answer, or None without an A/B test."""
    config = campaign.ab_test
    if not config:
        return None
    variants = ranking(config, variant_counts(campaign))
    best, second = leader(variants)
    test = two_proportion_z_test(best["successes"], best["delivered"], second["successes"], second["delivered"])
    decision = ABTestDecision.objects.filter(campaign_id=campaign.pk).first()
    if decision is None:
        status = "testing"
    else:
        status = "completed" if campaign.status == states.COMPLETED else "decided"
    return {
        "status": status,
        "variants": [_shown(v) for v in variants],
        "metric": config["metric"],
        "leader": best["name"],
        "winner": decision.winner if decision else None,
        "significant": test.significant,
        "p_value": test.p_value,
        "confidence": test.confidence,
        "decided_at": decision.decided_at if decision else None,
        "decided_by": decision.decided_by if decision else None,
    }
