"""The split at launch and the release of the rest, each one statement.

At launch, the campaign's pending recipients are numbered in a random order (`row_number()
OVER (ORDER BY random())`); the first `test_percentage` of them (at least one per variant)
get variant (n − 1) mod k — an even split, at random — and every other one is *held*: still
`pending`, its variant empty, `not_before` = HELD, a time that never comes, so the sender's
claim (due rows only: `not_before` empty or past) never takes it. When the winner is chosen,
one UPDATE gives every held row the winner's index and clears `not_before`, and the sender
takes them like any pending row. A row is assigned once and sent once: nobody gets two
variants.

Recipients can be added only while a campaign is not running; those added after the launch
(the campaign paused) are settled when it resumes (`settle_unassigned`): held while the test
runs, given the winner once it is decided. So every row the sender can claim has a variant.
"""

from datetime import UTC, datetime

from django.db import connection

from ..models import CampaignRecipient

HELD = datetime(9999, 1, 1, tzinfo=UTC)
R = CampaignRecipient.Status
_TABLE = CampaignRecipient._meta.db_table

_SPLIT_SQL = f"""
UPDATE {_TABLE} SET
    variant = a.v,
    not_before = CASE WHEN a.v IS NULL THEN %(held)s ELSE {_TABLE}.not_before END
FROM (
    SELECT q.id, CASE WHEN q.rn <= %(test_n)s THEN (q.rn - 1) %% %(k)s END AS v
    FROM (
        SELECT id, row_number() OVER (ORDER BY random()) AS rn
        FROM {_TABLE} WHERE campaign_id = %(campaign)s AND status = '{R.PENDING}'
    ) q
) a
WHERE {_TABLE}.id = a.id
"""


def test_size(pending: int, percentage: int, variants: int) -> int:
    """How many recipients the test takes: `percentage` of the pending ones, rounded, and at
    least one per variant (never more than there are)."""
    return min(pending, max(variants, round(pending * percentage / 100)))


def split(*, campaign, config: dict) -> int:
    """Assign the test share at random and hold the rest (one statement); the test's size.
    Precondition: inside the launch's transaction, before the sender can claim."""
    pending = CampaignRecipient.objects.filter(campaign_id=campaign.pk, status=R.PENDING).count()
    k = len(config["variants"])
    size = test_size(pending, config["test_percentage"], k)
    with connection.cursor() as cursor:
        # The stamp as the ORM writes it (SQLite stores text), so `release` finds it equal.
        held = connection.ops.adapt_datetimefield_value(HELD)
        cursor.execute(_SPLIT_SQL, {"held": held, "test_n": size, "k": k, "campaign": campaign.pk})
    return size


def settle_unassigned(*, campaign, winner: int | None) -> int:
    """Pending recipients without a variant (added while paused): the winner's when the test
    is decided, else held."""
    rows = CampaignRecipient.objects.filter(
        campaign_id=campaign.pk, status=R.PENDING, variant__isnull=True, not_before__isnull=True
    )
    return rows.update(variant=winner) if winner is not None else rows.update(not_before=HELD)


def release(*, campaign, winner: int) -> int:
    """Give every held recipient the winner and make it due now (one statement)."""
    return CampaignRecipient.objects.filter(
        campaign_id=campaign.pk, status=R.PENDING, variant__isnull=True, not_before=HELD
    ).update(variant=winner, not_before=None)
