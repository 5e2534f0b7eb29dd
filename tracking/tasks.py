"""Tracking's Celery tasks: a thin API over its services."""

import logging

from celery import shared_task
from django.conf import settings

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def poll_imap_replies() -> dict:
    """celery-beat, every minute: the IMAP reply mailbox (`IMAP_URL`), when one is set."""
    if not settings.IMAP_URL:
        return {"skipped": "IMAP_URL is not set"}
    from .replies.imap import poll

    return poll()
