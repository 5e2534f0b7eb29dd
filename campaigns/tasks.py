"""Celery tasks: a thin API over campaigns.sending. (Interface agreed between the API and
sending work; the sending engine fills in the bodies.) Queue them with
transaction.on_commit(lambda: task.delay(...)), never before the commit."""

from celery import shared_task


@shared_task
def send_campaign(campaign_id: int) -> None:
    """Fan out: claim and send the campaign's pending recipients in batches."""
    raise NotImplementedError


@shared_task
def send_test_email(campaign_id: int, to_email: str, lead_id: int | None = None) -> None:
    """One real message to `to_email`, subject prefixed "[TEST] ", not counted in stats."""
    raise NotImplementedError
