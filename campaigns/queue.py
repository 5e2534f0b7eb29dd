"""Queueing Celery work by task name, on commit: the one way services start background
work. Services name the task (`SEND_CAMPAIGN`, …) instead of importing `campaigns.tasks`,
so writes never depend on the sender (no import circle services → tasks → sending →
services).

The task object is looked up in the Celery app's registry (Celery's autodiscovery fills
it), so eager mode and a test's stand-in for `task.delay` apply as they would to a direct
call; a registry that lacks the task (a process that never imported the tasks) still
queues it by name.
"""

from celery import current_app
from django.db import transaction

SEND_CAMPAIGN = "campaigns.tasks.send_campaign"
SEND_TEST_EMAIL = "campaigns.tasks.send_test_email"
IMPORT_LEADS = "campaigns.tasks.import_leads"


def send(name: str, *args) -> None:
    """Queue task `name` with `args` now."""
    app = current_app
    if name not in app.tasks:
        app.loader.import_default_modules()  # Celery's autodiscovery of every app's tasks
    task = app.tasks.get(name)
    if task is None:
        app.send_task(name, args=args)
    else:
        task.delay(*args)


def send_on_commit(name: str, *args) -> None:
    """Queue task `name` with `args` once the current transaction commits (at once
    outside a transaction); never before, so a worker cannot read the rows too early."""
    transaction.on_commit(lambda: send(name, *args))
