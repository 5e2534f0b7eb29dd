"""Test messages: one real message to one address through the same render path."""

import secrets

from django.core.mail.message import sanitize_address

from .. import rendering
from ..models import Campaign, Lead
from .mime import Outgoing, Sender, list_unsubscribe_headers, message_id_domain
from .transport import Transport

TEST_TOKEN = "test"


def send_test(*, campaign_id: int, to_email: str, lead_id: int | None = None) -> None:
    """One real message to `to_email` through the same render path, subject "[TEST] …".

    It counts nowhere: there is no recipient row. Its links go straight to their targets
    (a click on a test message records nothing, but works), it carries no open pixel, and
    its unsubscribe URL uses the token "test", which names no recipient. Raises
    TransientFailure/PermanentFailure like a campaign message.
    """
    campaign = Campaign.all_objects.select_related("template").get(pk=campaign_id)
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id else None
    compiled = rendering.compile_message(**rendering.message_sources(campaign=campaign))
    parts = compiled.render(
        rendering.context_for(
            lead=rendering.lead_data(lead),
            campaign=rendering.campaign_data(campaign),
            unsubscribe=rendering.unsubscribe_url(TEST_TOKEN),
        )
    )
    out = Outgoing(
        recipient_id=0,
        token=TEST_TOKEN,
        to=sanitize_address(to_email, "utf-8"),
        message_id=f"<test.{secrets.token_hex(8)}@{message_id_domain(campaign)}>",
        subject=f"[TEST] {parts['subject']}",
        html=parts["html"],
        text=parts["text"],
        headers=[*list_unsubscribe_headers(TEST_TOKEN), ("X-Campaign-ID", campaign.campaign_id)],
        metadata={"campaign_id": campaign.campaign_id, "test": "1"},
    )
    transport = Transport(Sender.for_campaign(campaign))
    transport.open()
    try:
        transport.send(out)
    finally:
        transport.close()
