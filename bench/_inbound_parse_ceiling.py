"""A ceiling for bench/inbound.py: the whole Django stack and the same anymail inbound webhook
(its basic auth and the provider's payload parsing) and our reading of the message
(`tracking.replies.parse.read`), but nothing matched or stored — what a reply costs before
the database is asked anything."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

from anymail.signals import inbound  # noqa: E402

from tracking.replies import parse  # noqa: E402


def _read_only(sender, event, esp_name, **kwargs):
    message = event.message
    parse.read(
        message,
        stripped_text=getattr(message, "stripped_text", None),
        envelope_recipient=getattr(message, "envelope_recipient", None) or "",
    )


inbound.disconnect(dispatch_uid="tracking.replies.webhook.handle_inbound")
inbound.connect(_read_only, dispatch_uid="bench.inbound_parse_ceiling")
