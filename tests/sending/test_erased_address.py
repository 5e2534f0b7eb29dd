"""An erased lead's address is never mailed again: its hash stays suppressed, and a recipient
with the address (the lead imported again) is failed at claim time, not sent."""

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory
from tracking.privacy import lead_erase

pytestmark = pytest.mark.django_db


def test_an_erased_address_that_comes_back_is_not_mailed(smtp_settings, smtp_server):
    lead_erase(lead=LeadFactory(email="Gone.Person@example.net"))
    campaign = CampaignFactory(status=Campaign.Status.RUNNING, started_at=timezone.now())
    back = CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email="gone.person@example.net"))
    CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email="stays@example.net"))

    sending.send_batch(campaign.pk)

    assert smtp_server.addresses() == ["stays@example.net"]
    back.refresh_from_db()
    assert (back.status, back.error_message) == (CampaignRecipient.Status.FAILED, "suppressed: erased")
