"""The webhook worker's task, run by celery-beat every WEBHOOKS_BEAT_SECONDS."""

from celery import shared_task


@shared_task(acks_late=True)
def deliver_webhooks() -> dict:
    """Send due webhook deliveries for up to WEBHOOKS_DRAIN_SECONDS (`delivery.drain`).
    Safe to run twice or at once on several workers: each claims its own rows. Its budget is
    under the beat interval, so beat keeps about one drain running per tick, not a pile."""
    from .delivery import drain

    return drain()
