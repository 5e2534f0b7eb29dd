"""The campaign page's A/B panel: the variants side by side (recipients, sent, opens, clicks,
replies, the rate on the test's metric — people only), the leader, the confidence and the
decision; the same figures as `GET /api/v1/campaigns/{id}/ab`."""

from ..abtest.results import ab_results
from .stats import register_stats_panel


@register_stats_panel
def ab_panel(campaign) -> dict:
    results = ab_results(campaign)
    return {"ab": results} if results else {}
