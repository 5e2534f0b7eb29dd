"""The sending engine: claim recipients, render, instrument, send, record — once each.

The package, by concern (docs/sending.md has the guarantees):

- `store` — the Store: claims and leases, the start and the sent/failed marks (every
  statement the engine runs on recipient rows); `janitor` — expired leases and lost tasks;
  `finish` — completing and failing a campaign, through the rules' guard.
- `mime` — building messages; `transport` — SMTP and Django/anymail backends, and the
  classification of failures (`errors`).
- `prepare` — compiled templates, links, the render-ahead thread.
- `step` — the one per-message step (start → send → classify → record); `drivers` — the
  whole-message and the two-phase SMTP (envelope, start, data) ways to hand a message over; `batch` — one batch.
- `domains` — SEND_DOMAIN_RATES in a batch (the claim's quotas, the plan before rendering,
  capped messages waiting aside for their slot).
- `testmail` — test messages. Pacing is `campaigns.pacing` and `campaigns.domain_pacing`.
- `outcomes` — what a refusal leads to by its bounce kind (`campaigns.bounces`), and the
  auto-pause watch; `relays` — ESP SMTP relays' custom-data headers and queue ids;
  `signing` — DKIM.

The names below are the engine's public surface (tasks, tests and benchmarks use them).
"""

from ..states import fail as fail_campaign
from ..states import finish_if_done
from . import followups
from .batch import send_batch
from .errors import PermanentFailure, TransientFailure
from .janitor import INTERRUPTED, release_expired_leases, stalled_campaign_ids
from .mime import Outgoing, Sender, build_mime, list_unsubscribe_headers, message_id_domain, to_header
from .prepare import RenderFailed, compiled_for, link_ids, prepare_batch, web_version
from .step import BatchResult
from .store import backoff, claim_batch, release, renew_leases
from .testmail import TEST_TOKEN, send_test
from .transport import Transport, pipelining, smtp_begin, smtp_finish, smtp_send

__all__ = [
    "INTERRUPTED",
    "TEST_TOKEN",
    "BatchResult",
    "Outgoing",
    "PermanentFailure",
    "RenderFailed",
    "Sender",
    "TransientFailure",
    "Transport",
    "backoff",
    "build_mime",
    "claim_batch",
    "compiled_for",
    "fail_campaign",
    "finish_if_done",
    "followups",
    "link_ids",
    "list_unsubscribe_headers",
    "message_id_domain",
    "pipelining",
    "prepare_batch",
    "release",
    "release_expired_leases",
    "renew_leases",
    "send_batch",
    "send_test",
    "smtp_begin",
    "smtp_finish",
    "smtp_send",
    "stalled_campaign_ids",
    "to_header",
    "web_version",
]
