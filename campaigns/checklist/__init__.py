"""The pre-send checklist (CONTRACT.md, Deliverability): `GET /api/v1/campaigns/{id}/checklist`,
the admin's panel on the campaign page, and the gate of launch.

Each check is `{"code", "level": "ok" | "warning" | "error", "message"}`; `ready` is false
exactly when one is an `error`. Which level each finding gets is decided in the check's own
module (`content`, `dns_checks`, `spam`) and listed in docs/deliverability.md. The DNS checks
(dkim, spf, dmarc) are never errors — the records are the sender's to fix and an unreachable
DNS says nothing about them — so launch (`require_ready`) runs every check but those three:
its verdict is the same as the GET's, without waiting on DNS.
"""

from dataclasses import asdict, dataclass

from fliptech.errors import Conflict

OK, WARNING, ERROR = "ok", "warning", "error"
ORDER = (
    "recipients",
    "template_renders",
    "subject",
    "unsubscribe_link",
    "text_part",
    "images",
    "links",
    "tracking_https",
    "dkim",
    "spf",
    "dmarc",
    "spam_score",
)


@dataclass
class Check:
    code: str
    level: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class NotReady(Conflict):
    """Launch refused: a check is an error (409 `not_ready`, the failing checks in `checks`)."""

    default_code = "not_ready"

    def __init__(self, failing: list[Check]):
        super().__init__(
            "The campaign is not ready to send: " + " ".join(c.message for c in failing),
            code=self.default_code,
        )
        self.extra = {"checks": [c.as_dict() for c in failing]}


def run(campaign, *, with_dns: bool = True) -> list[Check]:
    """Every check of `campaign`, in ORDER. Raises TemplateTooCostly when the template is over
    the render budget and `with_dns` is false (launch answers that 400 before the checklist)."""
    from . import content, dns_checks, spam

    found = content.checks(campaign, raise_too_costly=not with_dns)
    rendered = found.pop("_rendered", None)
    if with_dns:
        found.update(dns_checks.checks(campaign))
    found["spam_score"] = spam.check(campaign, rendered)
    return [found[code] for code in ORDER if code in found]


def checklist(*, campaign) -> dict:
    """The endpoint's answer: `{"ready", "checks": [...]}`."""
    checks = run(campaign)
    return {"ready": not any(c.level == ERROR for c in checks), "checks": [c.as_dict() for c in checks]}


def require_ready(*, campaign) -> None:
    """Launch's gate: raise NotReady with the failing checks (TemplateTooCostly, 400, first)."""
    failing = [c for c in run(campaign, with_dns=False) if c.level == ERROR]
    if failing:
        raise NotReady(failing)
