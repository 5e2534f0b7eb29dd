"""Real celery worker and beat deliver webhooks: nothing is lost to a broker that forgot its
tasks, and a receiver that fails comes through once it recovers."""

from importlib import import_module

import pytest
from django.apps import apps as registry

from tests.sending.conftest import purge_broker, wait_until
from tests.tracking.test_fastpath import call
from webhooks.models import WebhookDelivery

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE": "1",
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.3",
    "WEBHOOKS_TIMEOUT_SECONDS": "2",
    "WEBHOOKS_BEAT_SECONDS": "1",
    "WEBHOOKS_DRAIN_SECONDS": "1",
}


@pytest.fixture
def beat_schedule(settings):
    # Tests before this one flushed the tables the data migration filled: register again,
    # ticking every second.
    settings.WEBHOOKS_BEAT_SECONDS = 1
    import_module("webhooks.migrations.0001_initial").register(registry)


def delivered():
    return WebhookDelivery.objects.filter(status="delivered").count()


def test_beat_and_a_worker_deliver_opens_and_a_failing_receiver_recovers(
    celery_procs, receiver, sent_recipient, beat_schedule, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint_for(receiver.url)
    receiver.fail_next(3, status=500)
    for _ in range(5):
        assert call(f"/t/o/{sent_recipient.token}.gif")["status"] == "200 OK"
    purge_broker()  # a broker restart that lost every queued task: the rows are the queue

    celery_procs.worker(concurrency=1, extra_env=WORKER_ENV)
    celery_procs.beat()

    assert wait_until(lambda: delivered() == 5, timeout=60), celery_procs.logs()
    # 8 POSTs: three answered 500, retried, and five answered 200 — one per open, each event once.
    assert receiver.answered.count(500) == 3 and receiver.answered.count(200) == 5
    assert len({body["id"] for body in receiver.bodies()}) == 5
    assert WebhookDelivery.objects.filter(attempts__gt=1).count() >= 1
