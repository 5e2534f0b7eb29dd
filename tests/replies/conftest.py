"""A recipient who got the first message and one follow-up, a second follow-up pending."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStep, RecipientMessage
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

SECRET = "hooks:s3cret-pass"
SIGNING_KEY = "mailgun-signing-key"
FIRST_ID = "<1.aaaa1111@fliptech.example>"
STEP1_ID = "<f7.bbbb2222@fliptech.example>"


@pytest.fixture(autouse=True)
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    settings.REPLY_ADDRESS = ""


def auth(secret=SECRET):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


@pytest.fixture
def in_sequence(db):
    """(recipient, step-1 message, pending step-2 message) of a running two-step campaign."""
    template = EmailTemplateFactory()
    campaign = CampaignFactory(template=template, status=Campaign.Status.RUNNING, started_at=timezone.now())
    for position in (1, 2):
        CampaignStep.objects.create(campaign=campaign, position=position, delay=timedelta(days=2), template=template)
    lead = LeadFactory(email="owner@shop.example", status="contacted")
    sent = timezone.now() - timedelta(days=3)
    recipient = CampaignRecipientFactory(
        campaign=campaign,
        lead=lead,
        status=CampaignRecipient.Status.SENT,
        sent_at=sent,
        message_id=FIRST_ID,
        current_step=1,
    )
    step1 = RecipientMessage.objects.create(
        recipient=recipient,
        campaign_id=campaign.pk,
        position=1,
        status="sent",
        due_at=sent + timedelta(days=1),
        sent_at=sent + timedelta(days=1),
        message_id=STEP1_ID,
    )
    step2 = RecipientMessage.objects.create(
        recipient=recipient, campaign_id=campaign.pk, position=2, due_at=timezone.now() + timedelta(days=1)
    )
    return recipient, step1, step2


@pytest.fixture
def dovecot():
    """A private Dovecot on loopback with one mailbox (installed when missing)."""
    from tests.conftest import need
    from tests.replies.dovecot import Dovecot, ensure_installed

    need(ensure_installed() is not None, "Dovecot (dovecot-imapd, .ci/setup-dovecot.sh)")
    server = Dovecot()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        need(False, f"a running Dovecot ({exc})")
    yield server
    server.stop()
