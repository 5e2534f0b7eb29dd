from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from anymail.signals import inbound, tracking

        from .receivers import handle_tracking
        from .replies.webhook import handle_inbound

        tracking.connect(handle_tracking, dispatch_uid="tracking.receivers.handle_tracking")
        inbound.connect(handle_inbound, dispatch_uid="tracking.replies.webhook.handle_inbound")
