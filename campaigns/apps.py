from django.apps import AppConfig
from django.db import connections, transaction
from django.db.models.signals import post_migrate, pre_migrate


def _reinstall_sqlite_counter_triggers(using="default", **kwargs):
    """SQLite drops a table's triggers when a migration rebuilds the table; put them back
    (the counters, and the lead engagement rollup)."""
    from . import lead_engagement
    from .counters import install_triggers

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            install_triggers(connection)
            lead_engagement.install_triggers(connection)


def _drop_sqlite_rollup_triggers(using="default", **kwargs):
    """Before a migrate on SQLite: the rollup triggers (on recipients) name the lead table, so
    a migration rebuilding that table would fail at its rename; they come back after it."""
    from . import lead_engagement

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            lead_engagement.uninstall_triggers(connection)


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from fliptech import checks  # registers the deployment checks

        pre_migrate.connect(_drop_sqlite_rollup_triggers, sender=self)
        post_migrate.connect(_reinstall_sqlite_counter_triggers, sender=self)
        checks.warn_at_start()
