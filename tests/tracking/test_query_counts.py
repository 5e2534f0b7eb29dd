"""The hot paths' queries, pinned: a change that adds one shows up here first.

Counts differ by database: on PostgreSQL a pixel or click hit is one statement
(`hits._hit_statement`), elsewhere it is the ORM's lookups and writes (`hits._hit_orm`).
Django logs the statements that open and close a transaction too: SQLite's `BEGIN
IMMEDIATE` and `COMMIT` around `event_record` in autocommit (the hit paths below run so, as in
production), a savepoint and its release under a test's transaction.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import CampaignRecipient
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory
from tests.tracking.test_fastpath import call
from tests.tracking.test_stats_analytics import campaign  # noqa: F401 (fixture: opens, clicks, a bounce)


def postgresql():
    return connection.vendor == "postgresql"


@pytest.fixture
def recipient():
    return CampaignRecipientFactory(status=CampaignRecipient.Status.SENT, sent_at=timezone.now() - timedelta(hours=1))


@pytest.mark.django_db(transaction=True)
def test_pixel_queries(recipient, django_assert_num_queries):
    # PostgreSQL: 1 — the hit statement (recipient lookup, event INSERT, counter UPDATE).
    # SQLite, first open: 6 — recipient lookup, BEGIN, event INSERT, open_count + 1,
    # opened_at compare-and-set, COMMIT; a repeat open: 5 (opened_at is set already).
    with django_assert_num_queries(1 if postgresql() else 6):
        assert call(f"/t/o/{recipient.token}.gif")["status"] == "200 OK"
    with django_assert_num_queries(1 if postgresql() else 5):
        assert call(f"/t/o/{recipient.token}.gif")["status"] == "200 OK"
    # An unknown token: the lookup only (PostgreSQL: the same one statement, finding nobody).
    with django_assert_num_queries(1):
        assert call("/t/o/nobody-has-this.gif")["status"] == "200 OK"


@pytest.mark.django_db(transaction=True)
def test_click_queries(recipient, django_assert_num_queries):
    link = CampaignLinkFactory(campaign=recipient.campaign)
    # PostgreSQL: 1 — the hit statement (recipient and link lookup, event INSERT, UPDATE).
    # SQLite, first click on a recipient never opened: 8 — recipient lookup, link lookup,
    # BEGIN, event INSERT, click_count + 1, clicked_at compare-and-set, opened_at
    # compare-and-set (a click counts as an open), COMMIT; a repeat click: 6 (both
    # timestamps set already).
    with django_assert_num_queries(1 if postgresql() else 8):
        assert call(f"/t/c/{recipient.token}/{link.pk}")["status"] == "302 Found"
    with django_assert_num_queries(1 if postgresql() else 6):
        assert call(f"/t/c/{recipient.token}/{link.pk}")["status"] == "302 Found"


@pytest.mark.django_db
def test_stats_endpoint_queries(api, campaign, django_assert_num_queries):  # noqa: F811
    # 7, whatever the campaign's size: the API token and its user (one join), the user's
    # permissions (fliptech.authentication.load_permissions), the campaign,
    # its counter rows (a SUM over ≤ 16 rows), the send window (MIN/MAX sent_at, two index
    # probes), the newest event (PostgreSQL: per-type index lookups in one statement) and
    # whether it has follow-up steps (without, the per-step stats are its counters).
    with django_assert_num_queries(7):
        assert api.get(f"/api/v1/campaigns/{campaign.pk}/stats").status_code == 200


@pytest.mark.django_db
def test_analytics_endpoint_queries(api, campaign, settings, django_assert_num_queries):  # noqa: F811
    settings.TRACKING_ANALYTICS_CACHE_SECONDS = 0  # computed, not read from the cache
    # API token and user, the user's permissions, the campaign, the 3 stats queries, hourly sends, top openers, top
    # clickers, bounce reasons, error messages, top links, domains, follow-up steps: 14; then
    # PostgreSQL: + the median open and click times (1) + hourly opens/clicks and user agents
    # (1) + the transaction's set_config (1) + its savepoint and release under the test's
    # transaction (2) = 19;
    # SQLite: + the two medians (2) + hourly opens/clicks (1) + user agents (1) = 18;
    # both: + opens and clicks by address, for their countries (2).
    with django_assert_num_queries(21 if postgresql() else 20):
        assert api.get(f"/api/v1/campaigns/{campaign.pk}/analytics").status_code == 200
