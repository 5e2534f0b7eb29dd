"""The two ways a message can fail, as the engine sees them (the transport classifies)."""


class TransientFailure(Exception):
    """Worth retrying later: connection refused/lost, timeouts, SMTP 4xx, HTTP 5xx/429."""


class PermanentFailure(Exception):
    """Retrying will not help this recipient: SMTP 5xx, a refused address."""


def classify_code(code, message) -> Exception:
    """An SMTP reply as a failure: 5xx is permanent, anything else transient."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    reason = f"{code} {text}".strip()
    return PermanentFailure(reason) if isinstance(code, int) and 500 <= code < 600 else TransientFailure(reason)
