from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from anymail.signals import tracking

        from campaigns import bounces

        from .receivers import handle_tracking
        from .services import bounce_at_send

        tracking.connect(handle_tracking, dispatch_uid="tracking.receivers.handle_tracking")
        bounces.register_event_writer(bounce_at_send)  # the engine's refusals at send time
