from django.apps import AppConfig
from django.db import connections, transaction
from django.db.models.signals import post_migrate


def _reinstall_sqlite_counter_triggers(using="default", **kwargs):
    """SQLite drops a table's triggers when a migration rebuilds the table; put them back."""
    from .counters import install_triggers

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            install_triggers(connection)


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from fliptech import checks  # registers the deployment checks

        post_migrate.connect(_reinstall_sqlite_counter_triggers, sender=self)
        checks.warn_at_start()
