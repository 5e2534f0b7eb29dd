"""Preparing a batch of follow-ups: each step's template compiled once per process with
tracking written in, the subject ("Re: " + the previous one unless the step has its own),
the thread headers (`In-Reply-To` = the previous message's Message-ID, `References` = all
earlier ones) and the rendered Outgoing messages."""

import queue
import threading

from django.conf import settings

from .. import rendering, sequences
from ..models import RecipientMessage
from .followups import why_not
from .mime import Outgoing, build_mime, list_unsubscribe_headers, reply_to_headers, to_header
from .prepare import Prepared, RenderAhead, link_ids, render_parts

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


_compiled = {}


def compiled_step(campaign, steps: dict, position: int):
    """(CompiledMessage, dynamic links?) of step `position`, tracking written in, once per process."""
    step = steps[position]
    subject = subject_source(campaign, steps, position)
    key = (
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
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) > 64:
            _compiled.clear()
        body_html, body_text, dynamic = rendering.instrument_source(
            step.template.body_html,
            step.template.body_text or "",
            link_ids_for=lambda urls: link_ids(campaign.pk, urls),
            track_clicks=campaign.track_clicks,
            track_opens=campaign.track_opens,
        )
        compiled = rendering.compile_message(subject=subject, body_html=body_html, body_text=body_text)
        found = _compiled[key] = (compiled, dynamic)
    return found


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


def outgoing_for(campaign, m, parts, chain) -> Outgoing:
    """Follow-up `m` as an Outgoing: its `recipient_id` is the follow-up row's id (the
    store's key); the thread headers, tracking and unsubscribe headers of every message."""
    r = m.recipient
    return Outgoing(
        recipient_id=m.pk,
        token=r.token,
        to=to_header(r),
        rcpt=r.email_address,
        message_id=m.message_id,
        subject=parts["subject"],
        html=parts["html"],
        text=parts["text"],
        headers=[
            *thread_headers(chain),
            *list_unsubscribe_headers(r.token),
            ("X-Campaign-ID", campaign.campaign_id),
            *reply_to_headers(r.token),
        ],
        metadata={"token": r.token, "campaign_id": campaign.campaign_id, "step": m.position},
    )


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
    if not any(dynamic for _, dynamic in compiled.values()):
        return kept, StepsAhead(campaign, kept, compiled, chains, data, sender)
    rendered, urls = [], set()
    for m in kept:
        template, dynamic = compiled[m.position]
        parts = render_parts(template, data, m.recipient)
        if dynamic:
            urls.update(rendering.find_links(parts["html"], parts["text"], token=m.recipient.token))
        rendered.append((m, parts))
    ids = link_ids(campaign.pk, urls) if urls else {}
    out = []
    for m, parts in rendered:
        if ids:
            parts["html"], parts["text"] = rendering.rewrite_links(parts["html"], parts["text"], m.recipient.token, ids)
        m.subject = parts["subject"][:998]
        out.append(outgoing_for(campaign, m, parts, chains[m.pk]))
    RecipientMessage.objects.bulk_update(kept, ["subject"])
    return kept, Prepared(out)


class StepsAhead(RenderAhead):
    """prepare.RenderAhead for follow-ups: each rendered with its step's template; the
    subjects as rendered are stored when the batch closes."""

    def __init__(self, campaign, messages, compiled, chains, data, sender):
        self.compiled_by_step, self.chains = compiled, chains
        self.campaign, self.recipients, self.sender, self.data = campaign, messages, sender, data
        self.queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="render-ahead-steps", daemon=True)
        self.thread.start()

    def _run(self):
        for m in self.recipients:
            if self.stop.is_set():
                return
            try:
                parts = render_parts(self.compiled_by_step[m.position][0], self.data, m.recipient)
                m.subject = parts["subject"][:998]
                out = outgoing_for(self.campaign, m, parts, self.chains[m.pk])
                if self.sender is not None:
                    out.data = build_mime(out, self.sender)
            except Exception as exc:  # handed to the sending loop
                self.queue.put(exc)
                return
            self.queue.put(out)

    def close(self):
        super().close()
        self.thread.join(timeout=30)
        rendered = [m for m in self.recipients if m.subject]
        if rendered:
            RecipientMessage.objects.bulk_update(rendered, ["subject"])
