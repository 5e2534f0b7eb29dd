"""The engagement score: kept by the events as they arrive (the tracking paths over HTTP),
people only, decaying with a 30-day half-life, filterable on leads and in segments."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import engagement
from campaigns.models import CampaignRecipient, Lead
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory, LeadFactory
from tests.tracking.test_fastpath import call
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db(transaction=True)


def sent():
    return CampaignRecipientFactory(status=CampaignRecipient.Status.SENT, sent_at=timezone.now())


def score_of(api, lead):
    return api.get(f"/api/v1/leads/{lead.pk}").json()["engagement_score"]


def test_human_opens_clicks_and_replies_raise_the_score_machine_hits_do_not(api):
    recipient = sent()
    lead = recipient.lead
    assert score_of(api, lead) == 0
    call(f"/t/o/{recipient.token}.gif", method="HEAD")  # a scanner's: nothing
    assert score_of(api, lead) == 0
    call(f"/t/o/{recipient.token}.gif")
    assert score_of(api, lead) == 13  # 1 point: 100 · (1 − 2^(−1/5))
    link = CampaignLinkFactory(campaign=recipient.campaign)
    assert call(f"/t/c/{recipient.token}/{link.pk}")["status"].startswith("302")
    assert score_of(api, lead) == 43  # 4 points
    EmailTracking.objects.create(campaign_recipient=recipient, campaign=recipient.campaign, event_type="reply")
    assert score_of(api, lead) == 71  # 9 points
    EmailTracking.objects.create(campaign_recipient=recipient, campaign=recipient.campaign, event_type="bounce")
    assert score_of(api, lead) == 71


def test_points_halve_every_30_days():
    recipient = sent()
    EmailTracking.objects.create(campaign_recipient=recipient, campaign=recipient.campaign, event_type="reply")
    key = Lead.objects.get(pk=recipient.lead_id).engagement_key
    now = timezone.now()
    assert engagement.points(key, now) == pytest.approx(5, rel=1e-3)
    assert engagement.points(key, now + timedelta(days=30)) == pytest.approx(2.5, rel=1e-3)
    assert engagement.points(key, now + timedelta(days=60)) == pytest.approx(1.25, rel=1e-3)
    assert engagement.score(key, now) == 50 and engagement.score(key, now + timedelta(days=365)) == 0


def leads_with(scores):
    """Leads whose keys give these scores now."""
    now = timezone.now()
    out = []
    for target in scores:
        lead = LeadFactory()
        if target:
            d = -engagement.SCALE * math.log2(1 - target / 100)
            key = math.log2(d) + now.timestamp() / engagement.HALF_LIFE_SECONDS
            Lead.objects.filter(pk=lead.pk).update(engagement_key=key)
        out.append(lead)
    return out


def test_leads_filter_by_score(api):
    none, low, mid, high = leads_with([0, 10, 50, 90])

    def ids(query):
        response = api.get(f"/api/v1/leads?{query}")
        assert response.status_code == 200, response.json()
        return {lead["id"] for lead in response.json()["leads"]}

    assert ids("engagement_score__gte=50") == {mid.pk, high.pk}
    assert ids("engagement_score__gt=50") == {high.pk}
    assert ids("engagement_score__lt=50") == {none.pk, low.pk}
    assert ids("engagement_score__lte=10") == {none.pk, low.pk}
    assert ids("engagement_score__gte=0") == {none.pk, low.pk, mid.pk, high.pk}
    assert api.get("/api/v1/leads?engagement_score__gte=lots").status_code == 400


def test_segments_use_the_score(api):
    _, _, mid, high = leads_with([0, 10, 50, 90])
    rules = {"match": "all", "conditions": [{"field": "engagement_score", "op": "gte", "value": 40}]}
    body = api.post("/api/v1/segments/preview", {"rules": rules}, format="json").json()
    assert body["lead_count"] == 2 and {lead["id"] for lead in body["sample"]} == {mid.pk, high.pk}
    for bad in ("50", 101, -1, True, None):
        rules["conditions"][0]["value"] = bad
        response = api.post("/api/v1/segments/preview", {"rules": rules}, format="json")
        assert response.status_code == 400 and "0" in response.json()["rules"]["conditions"]
