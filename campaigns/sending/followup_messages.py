"""Preparing a batch of follow-ups: what differs from first messages — each step's template
(compiled once per process, `prepare.compile_cached`), the subject ("Re: " + the previous one
unless the step has its own) and the thread headers (`In-Reply-To` = the previous message's
Message-ID, `References` = all earlier ones). Rendering, links, headers and the render-ahead
thread are the first messages' (`prepare`)."""

import functools

from django.conf import settings

from .. import rendering, sequences
from ..models import RecipientMessage
from .followups import why_not
from .prepare import Job, Prepared, RenderAhead, compile_cached, outgoing_for, render_all

M = RecipientMessage.Status


def subject_source(campaign, steps: dict, position: int) -> str:
    """Step `position`'s subject template: its own, else "Re: " + the previous message's (one
    "Re: ", as mail clients thread it)."""
    if position == 0:
        return rendering.message_sources(campaign=campaign)["subject"]
    step = steps.get(position)
    if step is not None and step.subject:
        return step.subject
    previous = subject_source(campaign, steps, position - 1)
    return previous if previous.lower().startswith("re:") else f"Re: {previous}"


def compiled_step(campaign, steps: dict, position: int):
    """(CompiledMessage, dynamic links?) of step `position`, tracking written in, once per process."""
    step = steps[position]
    subject = subject_source(campaign, steps, position)
    key = (
        "step",
        campaign.pk,
        step.pk,
        step.updated_at,
        step.template_id,
        step.template.updated_at,
        subject,
        campaign.track_clicks,
        campaign.track_opens,
        settings.SITE_URL,
    )
    return compile_cached(key, campaign, lambda: (subject, step.template.body_html, step.template.body_text))


def thread_ids(messages) -> dict:
    """{message pk: [Message-IDs of the recipient's earlier messages, oldest first]}."""
    recipient_ids = {m.recipient_id for m in messages}
    earlier = {}
    for recipient_id, position, message_id in (
        RecipientMessage.objects.filter(recipient_id__in=recipient_ids, status=M.SENT)
        .order_by("position")
        .values_list("recipient_id", "position", "message_id")
    ):
        earlier.setdefault(recipient_id, []).append((position, message_id))
    out = {}
    for m in messages:
        chain = [m.recipient.message_id] if m.recipient.message_id else []
        chain += [mid for position, mid in earlier.get(m.recipient_id, []) if position < m.position and mid]
        out[m.pk] = chain
    return out


def thread_headers(chain: list) -> list:
    if not chain:
        return []
    return [("In-Reply-To", chain[-1]), ("References", " ".join(chain))]


def _finish(campaign, m, chain, parts):
    """Follow-up `m`'s Outgoing (its subject as rendered kept on the row, stored at the end)."""
    m.subject = parts["subject"][:998]
    return outgoing_for(campaign, m.recipient, parts, message=m, thread=thread_headers(chain))


def prepare_batch(campaign, messages, sender=None) -> tuple[list, object]:
    """(rows kept, their messages: `get(i)`, `close()`) in the same order. A follow-up whose
    step is gone is settled (skipped, the sequence finished) and left out. With only static
    links the messages are rendered and built by a helper thread just ahead of the sending
    loop (as first messages are); otherwise up front, links upserted once. Raises whatever
    a template raises up front; the thread hands its error to `get`."""
    steps = sequences.steps_of(campaign.pk)
    kept = []
    for m in messages:
        if m.position in steps:
            kept.append(m)
        else:
            why_not(m, campaign.pk)
    compiled = {p: compiled_step(campaign, steps, p) for p in {m.position for m in kept}}
    chains = thread_ids(kept)
    data = rendering.campaign_data(campaign)
    jobs = [
        Job(*compiled[m.position], data, m.recipient, functools.partial(_finish, campaign, m, chains[m.pk]))
        for m in kept
    ]
    if not any(dynamic for _, dynamic in compiled.values()):
        return kept, StepsAhead(kept, jobs, sender)
    out = render_all(campaign.pk, jobs)
    RecipientMessage.objects.bulk_update(kept, ["subject"])
    return kept, Prepared(out)


class StepsAhead(RenderAhead):
    """prepare.RenderAhead for follow-ups: the subjects as rendered are stored when the
    batch closes."""

    def __init__(self, messages, jobs, sender):
        self.messages = messages
        super().__init__(jobs, sender)

    def close(self):
        super().close()
        self.thread.join(timeout=30)
        rendered = [m for m in self.messages if m.subject]
        if rendered:
            RecipientMessage.objects.bulk_update(rendered, ["subject"])
