"""An A/B test end to end with a real worker and beat: the test share goes out split between
the variants, the rest waits; beat decides at `duration` on people's opens only (a scanner's
opens of the other variant do not count) and the rest goes out with the winner; nobody gets
two messages."""

from collections import Counter
from importlib import import_module

import pytest
from django.apps import apps as registry

from campaigns import services
from campaigns.models import ABTestDecision, Campaign, CampaignRecipient
from tests.sending.conftest import wait_until
from tests.sending.test_worker import make_campaign, status_of
from tests.tracking.test_fastpath import call

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
R = CampaignRecipient.Status

AB = {
    "variants": [{"name": "A", "subject": "Subject A"}, {"name": "B", "subject": "Subject B", "from_name": "Bea"}],
    "test_percentage": 50,
    "metric": "opens",
    "duration": "PT8S",
    "winner_selection": "auto",
}


def test_the_winner_on_human_opens_goes_to_the_rest(celery_procs, smtp_server):
    import_module("campaigns.migrations.0002_sending_beat_schedule").register(registry)
    import_module("campaigns.migrations.0012_ab_abtest").register(registry)
    campaign = make_campaign(40, ab_test=AB)
    celery_procs.worker(concurrency=1)
    celery_procs.beat()
    assert celery_procs.wait_ready()
    services.campaign_launch(campaign=campaign, send_immediately=True)

    assert smtp_server.wait_for(20, timeout=30) == 20, celery_procs.logs()
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert Counter(rows.filter(status=R.SENT).values_list("variant", flat=True)) == {0: 10, 1: 10}
    # People open three of B's messages; a scanner opens every one of A's (HEAD: a machine).
    for i, r in enumerate(rows.filter(status=R.SENT).order_by("variant", "pk")):
        if r.variant == 0:
            call(f"/t/o/{r.token}.gif", method="HEAD")
        elif i % 10 < 3:
            call(f"/t/o/{r.token}.gif")
    assert smtp_server.count == 20 and rows.filter(status=R.PENDING, variant__isnull=True).count() == 20

    assert wait_until(lambda: status_of(campaign) == Campaign.Status.COMPLETED, timeout=60), celery_procs.logs()
    assert ABTestDecision.objects.get(campaign=campaign).winner == "B"
    messages = smtp_server.parsed()
    assert len(messages) == 40 and len(set(smtp_server.addresses())) == 40  # nobody got two
    later = messages[20:]
    assert {m["Subject"] for m in later} == {"Subject B"} and all("Bea" in m["From"] for m in later)
    assert Counter(m["Subject"] for m in messages[:20]) == {"Subject A": 10, "Subject B": 10}
    assert Counter(rows.values_list("variant", flat=True)) == {0: 10, 1: 30}
