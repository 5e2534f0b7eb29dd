from django.apps import AppConfig
from django.db import connections, transaction
from django.db.models.signals import post_migrate


def _reinstall_sqlite_triggers(using="default", **kwargs):
    """SQLite drops a table's triggers when a migration rebuilds the table (the events,
    recipient and campaign tables are other apps'): put them back after every migrate."""
    from .events import install_triggers

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            install_triggers(connection)


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_reinstall_sqlite_triggers, sender=self)
