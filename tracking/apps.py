from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from anymail.signals import tracking

        from .receivers import handle_tracking

        tracking.connect(handle_tracking, dispatch_uid="tracking.receivers.handle_tracking")
