from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory

HUMAN_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)


@pytest.fixture
def sent_recipient(db):
    """A recipient whose message went out an hour ago."""
    return CampaignRecipientFactory(
        status=CampaignRecipient.Status.SENT,
        sent_at=timezone.now() - timedelta(hours=1),
        message_id="<20261126.abc123@mail.fliptech.example>",
    )


@pytest.fixture
def link(sent_recipient):
    return CampaignLinkFactory(campaign=sent_recipient.campaign, url="https://fliptech.example/offer?x=1")
