"""`POST …/resend` and `POST …/retry`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStep
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status


@pytest.fixture
def finished(db):
    """A completed campaign with one step and recipients in every situation."""
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, subject="Spring offer", completed_at=timezone.now())
    CampaignStep.objects.create(campaign=campaign, position=1, delay=timedelta(days=2), template=campaign.template)
    sent = timezone.now() - timedelta(days=1)

    def add(name, **fields):
        lead = LeadFactory(email=f"{name}@example.net")
        defaults = {"status": R.SENT, "sent_at": sent}
        return CampaignRecipientFactory(campaign=campaign, lead=lead, **{**defaults, **fields})

    add("quiet")
    add("machine", machine_open_count=4, machine_click_count=2)  # scanners only: not an opener
    add("opener", opened_at=sent)
    add("clicker", opened_at=sent, clicked_at=sent)
    add("replier", replied_at=sent)
    add("bounced", status=R.BOUNCED, bounced_at=sent)
    add("unsubscribed", status=R.UNSUBSCRIBED, unsubscribed_at=sent)
    add("suppressed")
    SuppressionFactory(email="suppressed@example.net")
    add("gaveup", status=R.FAILED, sent_at=None, error_message="gave up after 5 attempts: 451 4.3.0 Try again later")
    add("refused", status=R.FAILED, sent_at=None, error_message="550 5.1.1 No such user")
    add("interrupted", status=R.FAILED, sent_at=None, error_message="interrupted: the sender stopped after handing …")
    add("gaveup-suppressed", status=R.FAILED, sent_at=None, error_message="gave up after 5 attempts: timeout")
    SuppressionFactory(email="gaveup-suppressed@example.net")
    return campaign


def emails(campaign):
    return sorted(
        e.split("@")[0]
        for e in CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", flat=True)
    )


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ("non_openers", ["machine", "quiet", "replier"]),
        ("non_clickers", ["machine", "opener", "quiet", "replier"]),
        ("non_repliers", ["clicker", "machine", "opener", "quiet"]),
    ],
)
def test_resend_makes_a_draft_for_the_delivered_people_who_did_not_act(api, finished, audience, expected):
    response = api.post(
        f"/api/v1/campaigns/{finished.pk}/resend", {"audience": audience, "subject": "Again?"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    new = Campaign.objects.get(campaign_id=body["campaign_id"])
    assert body["status"] == "draft" and body["subject"] == "Again?" and body["total_recipients"] == len(expected)
    assert new.template_id == finished.template_id and new.steps.count() == 1
    assert emails(new) == expected


def test_resend_can_be_scheduled_and_is_refused_from_a_draft(api, finished):
    at = (timezone.now() + timedelta(days=1)).isoformat()
    body = api.post(
        f"/api/v1/campaigns/{finished.pk}/resend", {"audience": "non_openers", "scheduled_at": at}, format="json"
    ).json()
    assert body["status"] == "scheduled"
    draft = CampaignFactory()
    response = api.post(f"/api/v1/campaigns/{draft.pk}/resend", {"audience": "non_openers"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"
    bad = api.post(f"/api/v1/campaigns/{finished.pk}/resend", {"audience": "everyone"}, format="json")
    assert bad.status_code == 400 and "audience" in bad.json()


def test_retry_requeues_only_the_failures_that_may_pass_now(api, finished, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(f"/api/v1/campaigns/{finished.pk}/retry")
    assert response.status_code == 200, response.json()
    assert response.json()["requeued"] == 1 and response.json()["campaign"]["status"] == "running"
    statuses = dict(CampaignRecipient.objects.filter(campaign=finished).values_list("email_address", "status"))
    assert statuses["gaveup@example.net"] == R.PENDING
    for name in ("refused", "interrupted", "gaveup-suppressed"):
        assert statuses[f"{name}@example.net"] == R.FAILED
    again = api.post(f"/api/v1/campaigns/{finished.pk}/retry")
    assert again.status_code == 409
