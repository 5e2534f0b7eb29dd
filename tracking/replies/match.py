"""Which recipient (and which of its messages) an inbound message answers: by the
Message-IDs it names (`In-Reply-To`, `References`: any step we sent), else by the
recipient's reply address (`REPLY_ADDRESS`, e.g. `replies+{token}@mail.example.com`).
A delivery status notification is matched by the original message it encloses, else by
its `Final-Recipient`."""

import re
from dataclasses import dataclass

from django.conf import settings

from campaigns.models import CampaignRecipient, RecipientMessage


@dataclass
class Match:
    recipient: CampaignRecipient
    step: int
    how: str  # "message_id", "reply_address" or "final_recipient"


def _forms(ids) -> list:
    return [form for i in ids for form in (i, i.strip("<>"))]


def by_message_ids(ids) -> Match | None:
    """The recipient of the first of `ids` (most direct first) that names a message we sent."""
    ids = [i for i in ids if i][:50]
    if not ids:
        return None
    found = {}
    for r in CampaignRecipient.objects.select_related("campaign", "lead").filter(message_id__in=_forms(ids)):
        found.setdefault(f"<{r.message_id.strip('<>')}>", (r, 0))
    if ids[0] not in found:  # the most direct id is not a first message: look at the follow-ups
        for m in RecipientMessage.objects.select_related("recipient__campaign", "recipient__lead").filter(
            message_id__in=_forms(ids)
        ):
            found.setdefault(f"<{m.message_id.strip('<>')}>", (m.recipient, m.position))
    for i in ids:
        if i in found:
            recipient, step = found[i]
            return Match(recipient, step, "message_id")
    return None


def reply_address_pattern():
    template = getattr(settings, "REPLY_ADDRESS", "")
    if "{token}" not in template:
        return None
    before, _, after = template.lower().partition("{token}")
    return re.compile(re.escape(before) + r"([a-z0-9_-]{16,64})" + re.escape(after), re.IGNORECASE)


def by_reply_address(addresses) -> Match | None:
    pattern = reply_address_pattern()
    if pattern is None:
        return None
    for address in addresses:
        found = pattern.fullmatch(address)
        if found is None:
            continue
        # Tokens are case-sensitive; the address's local part may have been lower-cased on the way.
        recipient = (
            CampaignRecipient.objects.select_related("campaign", "lead").filter(token=found[1]).first()
            or CampaignRecipient.objects.select_related("campaign", "lead").filter(token__iexact=found[1]).first()
        )
        if recipient is not None:
            return Match(recipient, recipient.current_step or 0, "reply_address")
    return None


def by_final_recipient(addresses) -> Match | None:
    """A DSN without the original message: the newest message sent to that address."""
    for address in addresses:
        recipient = (
            CampaignRecipient.objects.select_related("campaign", "lead")
            .filter(email_address__iexact=address, sent_at__isnull=False)
            .order_by("-sent_at")
            .first()
        )
        if recipient is not None:
            return Match(recipient, recipient.current_step or 0, "final_recipient")
    return None


def match(inbound) -> Match | None:
    if inbound.bounce is not None:
        return by_message_ids(inbound.bounce.original_message_ids) or by_final_recipient(
            inbound.bounce.final_recipients
        )
    return by_message_ids(inbound.answered_ids) or by_reply_address(inbound.to_addresses)
