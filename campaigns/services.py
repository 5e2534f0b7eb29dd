"""Writes on campaigns. Every status change goes through `transition`."""

from django.utils import timezone

from .exceptions import InvalidState
from .models import Campaign


def transition(*, campaign: Campaign, action: str, **fields) -> Campaign:
    """Move `campaign` along `Campaign.TRANSITIONS[action]`, race-safe.

    A conditional ``UPDATE … WHERE status IN (<allowed>)`` decides: of two concurrent
    calls only one changes the row; the other raises InvalidState, as does any move
    the table does not allow. `fields` are written in the same UPDATE. On success the
    instance is refreshed from the database.
    """
    allowed, target = Campaign.TRANSITIONS[action]
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(
        status=target, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        campaign.refresh_from_db(fields=["status"])
        raise InvalidState(
            f"Cannot {action} a campaign that is {campaign.status}.", code="invalid_state"
        )
    campaign.refresh_from_db()
    return campaign
