"""Per-step stats: `steps` in the campaign's stats, one entry per message (step 0 = the
first message): `position, sent, opened, clicked, replied, bounced`, people only.

Each message counts the recipients it went to (a follow-up refused as a hard bounce at send
counts as sent, like a first message: its row is `bounced`), and an open, click or bounce counts for the
message that was the recipient's latest when it happened (an open pixel is the same for
every message of a recipient, so the time is what tells them apart); a reply counts for the
message it answered (matched by its Message-ID, `Reply.step`). A campaign without steps
needs no scan: its one entry is its counters.
"""

from django.db import connection

from campaigns.models import CampaignRecipient, CampaignStep, RecipientMessage

from .models import EmailTracking, Reply

_RECIPIENTS = CampaignRecipient._meta.db_table
_MESSAGES = RecipientMessage._meta.db_table
_EVENTS = EmailTracking._meta.db_table
_REPLIES = Reply._meta.db_table


def _event_in_window(types: str) -> str:
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {_EVENTS} e WHERE e.campaign_recipient_id = w.rid"
        f" AND e.event_type IN ({types}) AND NOT e.is_machine AND e.created_at >= w.at"
        f" AND (w.until IS NULL OR e.created_at < w.until)) THEN 1 ELSE 0 END"
    )


# A human click without an open seen counts as an open (images were blocked), as in the totals.
_SQL = f"""
WITH sent AS (
    SELECT r.id AS rid, 0 AS pos, r.sent_at AS at FROM {_RECIPIENTS} r
    WHERE r.campaign_id = %(campaign)s AND r.sent_at IS NOT NULL AND r.status <> 'queued'
    UNION ALL
    SELECT m.recipient_id, m.position, m.sent_at FROM {_MESSAGES} m
    WHERE m.campaign_id = %(campaign)s AND m.status IN ('sent', 'bounced')
), w AS (
    SELECT rid, pos, at, LEAD(at) OVER (PARTITION BY rid ORDER BY pos) AS until FROM sent
)
SELECT w.pos, COUNT(*),
    SUM({_event_in_window("'open', 'click'")}),
    SUM({_event_in_window("'click'")}),
    SUM(CASE WHEN EXISTS (SELECT 1 FROM {_REPLIES} p WHERE p.recipient_id = w.rid AND p.step = w.pos
        AND p.kind = 'reply') THEN 1 ELSE 0 END),
    SUM(CASE WHEN r.bounced_at IS NOT NULL AND r.bounced_at >= w.at
        AND (w.until IS NULL OR r.bounced_at < w.until) THEN 1 ELSE 0 END)
FROM w JOIN {_RECIPIENTS} r ON r.id = w.rid
GROUP BY w.pos ORDER BY w.pos
"""
KEYS = ("position", "sent", "opened", "clicked", "replied", "bounced")


def step_stats(*, campaign, metrics: dict) -> list[dict]:
    """[{"position", "sent", "opened", "clicked", "replied", "bounced"}] per message."""
    positions = list(CampaignStep.objects.filter(campaign_id=campaign.pk).values_list("position", flat=True))
    if not positions:
        return [
            {
                "position": 0,
                "sent": metrics["emails_sent"],
                "opened": metrics["emails_opened"],
                "clicked": metrics["emails_clicked"],
                "replied": metrics["emails_replied"],
                "bounced": metrics["emails_bounced"],
            }
        ]
    with connection.cursor() as cursor:
        cursor.execute(_SQL, {"campaign": campaign.pk})
        found = {row[0]: dict(zip(KEYS, (int(v or 0) for v in row), strict=True)) for row in cursor.fetchall()}
    empty = dict.fromkeys(KEYS[1:], 0)
    return [found.get(p, {"position": p, **empty}) for p in [0, *sorted(positions)]]
