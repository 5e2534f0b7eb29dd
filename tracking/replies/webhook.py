"""anymail's `inbound` signal → `replies.receive`, for every ESP anymail supports for
inbound (`/anymail/<esp>/inbound/`, behind the same webhook secret as tracking). The
signal is sent inside the webhook's request, so the ESP gets its 2xx only after the
message is stored; a database error answers 500 and the ESP retries."""

import logging

from . import receive

log = logging.getLogger(__name__)


def handle_inbound(sender, event, esp_name, **kwargs):
    message = getattr(event, "message", None)
    if message is None:
        log.warning("%s inbound webhook without a message; ignored", esp_name)
        return
    outcome = receive(
        message,
        source=f"anymail:{esp_name}".lower().replace(" ", "_"),
        stripped_text=getattr(message, "stripped_text", None),
        envelope_recipient=getattr(message, "envelope_recipient", None) or "",
    )
    log.info("%s inbound %s: %s", esp_name, event.event_id, outcome)
