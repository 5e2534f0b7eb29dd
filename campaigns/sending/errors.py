"""The two ways a message can fail, as the engine sees them (the transport classifies), each
with the bounce kind of `campaigns.bounces` (hard / soft / policy / other): what the refusal
says about the address."""

from ..bounces import OTHER, kind_of


class _Failure(Exception):
    """`kind`: what the refusal says about the address; `source`: who refused ("smtp", or the
    anymail provider's name)."""

    def __init__(self, reason="", kind: str = OTHER, source: str = "smtp"):
        super().__init__(reason)
        self.kind, self.source = kind, source


class TransientFailure(_Failure):
    """Worth retrying later: connection refused/lost, timeouts, SMTP 4xx, HTTP 5xx/429."""


class PermanentFailure(_Failure):
    """Retrying will not help this recipient: SMTP 5xx, a refused address."""


def classify_code(code, message) -> Exception:
    """An SMTP reply as a failure: 5xx is permanent, anything else transient; its kind from
    the enhanced status code (`campaigns.bounces.ENHANCED_CODES`)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    reason = f"{code} {text}".strip()
    failure = PermanentFailure if isinstance(code, int) and 500 <= code < 600 else TransientFailure
    return failure(reason, kind_of(text))
