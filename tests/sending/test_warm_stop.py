"""Ctrl-C on `make run`: honcho sends SIGTERM to the worker's whole process group (the worker and
its pool processes). The message in flight finishes and is recorded, the batch gives its other
claims back, and the worker exits warmly before honcho's SIGKILL (5 s) — no pool process killed
by the signal, nothing left claimed."""

import os
import signal
import time
from pathlib import Path

import pytest

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import CampaignFactory, EmailTemplateFactory
from tests.sending.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
R = CampaignRecipient.Status


def paced_campaign(n):
    campaign = CampaignFactory(template=EmailTemplateFactory(), send_rate_per_hour=7200)  # one each 0.5 s
    leads = Lead.objects.bulk_create(Lead(email=f"w{i}@example.net", first_name=f"W{i}") for i in range(n))
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(campaign=campaign, lead=lead, email_address=lead.email) for lead in leads
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    campaign.refresh_from_db()
    return campaign


def test_sigterm_to_the_worker_group_finishes_the_message_in_flight_and_exits_warmly(celery_procs, smtp_server):
    campaign = paced_campaign(40)
    worker = celery_procs.worker(concurrency=2)
    assert celery_procs.wait_ready(), celery_procs.logs()
    services.campaign_launch(campaign=campaign, send_immediately=True)
    assert wait_until(lambda: smtp_server.count >= 3, timeout=60), celery_procs.logs()

    started = time.monotonic()
    os.killpg(worker.pid, signal.SIGTERM)  # what honcho does on Ctrl-C
    worker.wait(timeout=30)
    took = time.monotonic() - started

    log = Path(worker.log_path).read_text(errors="replace")
    # Gone before honcho's SIGKILL (5 s), on Redis and on the embedded filesystem broker alike
    # (fliptech/broker.py ends the broker's wait as soon as the worker is asked to stop).
    assert took < 5, log
    assert worker.returncode == 0, log
    for bad in ("signal 15", "SIGTERM)", "WorkerLostError", "Traceback"):
        assert bad not in log, log
    rows = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", "status").order_by())
    assert set(rows.values()) <= {R.SENT, R.PENDING}, rows
    sent = {address for address, status in rows.items() if status == R.SENT}
    assert sent == set(smtp_server.addresses())  # every accepted message recorded, none cut
    assert 3 <= len(sent) < 40
