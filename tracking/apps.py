from django.apps import AppConfig
from django.db import connections, transaction
from django.db.models.signals import post_migrate, pre_migrate


def _reinstall_sqlite_triggers(using="default", **kwargs):
    """SQLite drops a table's triggers when a migration rebuilds the table: put them back."""
    from .engagement import install_triggers

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            install_triggers(connection)


def _drop_sqlite_triggers(using="default", **kwargs):
    """Before a migrate on SQLite: a trigger that names another app's table would make a
    migration rebuilding that table fail (`no such table` at its rename); they come back
    after it (`_reinstall_sqlite_triggers`)."""
    from .engagement import uninstall_triggers

    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using):
            uninstall_triggers(connection)


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        pre_migrate.connect(_drop_sqlite_triggers, sender=self)
        post_migrate.connect(_reinstall_sqlite_triggers, sender=self)
        from anymail.signals import inbound, tracking

        from campaigns import bounces

        from .receivers import handle_tracking
        from .replies.webhook import handle_inbound
        from .services import bounce_at_send

        tracking.connect(handle_tracking, dispatch_uid="tracking.receivers.handle_tracking")
        inbound.connect(handle_inbound, dispatch_uid="tracking.replies.webhook.handle_inbound")
        bounces.register_event_writer(bounce_at_send)  # the engine's refusals at send time
