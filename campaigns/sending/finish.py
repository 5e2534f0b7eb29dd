"""The one place where the engine moves a campaign: completing and failing it, through the
campaign rules' guard (a conditional UPDATE on the status, so two callers cannot both win).

The guard lives in `campaigns.services.transition` today; when the rules module
(`campaigns.states`) owns it, only `_transition` below changes.
"""

from django.db.models import Count, Q
from django.utils import timezone

from ..exceptions import InvalidState
from ..models import Campaign, CampaignRecipient

R = CampaignRecipient.Status
RUNNING = Campaign.Status.RUNNING


def _transition(**kwargs):
    from ..services import transition  # the rules' guard (moving to campaigns.states)

    return transition(**kwargs)


def finish_if_done(campaign_id) -> str | None:
    """Complete a running campaign once no recipient is pending or queued; fail it instead
    when nothing was sent and every recipient failed. Returns the new status or None."""
    if CampaignRecipient.objects.filter(campaign_id=campaign_id, status__in=[R.PENDING, R.QUEUED]).exists():
        return None  # the common answer, from the (campaign, status) index alone
    counts = CampaignRecipient.objects.filter(campaign_id=campaign_id).aggregate(
        failed=Count("pk", filter=Q(status=R.FAILED)),
        total=Count("pk"),
    )
    campaign = Campaign.all_objects.filter(pk=campaign_id, status=RUNNING).first()
    if campaign is None:
        return None
    try:
        if counts["total"] and counts["failed"] == counts["total"]:
            reasons = (
                CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.FAILED)
                .values("error_message")
                .annotate(n=Count("pk"))
                .order_by("-n")[:1]
            )
            reason = reasons[0]["error_message"] if reasons else ""
            _transition(
                campaign=campaign,
                action="fail",
                failure_reason=f"Every message failed permanently; most common error: {reason}"[:2000],
            )
            return Campaign.Status.FAILED
        _transition(campaign=campaign, action="complete", completed_at=timezone.now())
        return Campaign.Status.COMPLETED
    except InvalidState:
        return None


def fail_campaign(campaign, reason: str) -> None:
    """Fail `campaign` with `reason` (shown as `failure_reason`), unless it already left
    the state that may fail."""
    try:
        _transition(campaign=campaign, action="fail", failure_reason=reason[:2000])
    except InvalidState:
        pass
