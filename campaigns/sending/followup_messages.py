"""Preparing a batch of follow-ups: each step's template compiled once per process with
tracking written in, the subject ("Re: " + the previous one unless the step has its own),
the thread headers (`In-Reply-To` = the previous message's Message-ID, `References` = all
earlier ones) and the rendered Outgoing messages."""

from django.conf import settings

from .. import rendering, sequences
from ..models import RecipientMessage
from .followups import why_not
from .mime import Outgoing, list_unsubscribe_headers, reply_to_headers, to_header
from .prepare import link_ids, render_parts

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


def prepare_batch(campaign, messages) -> tuple[list, list]:
    """(rows, Outgoing messages) of the batch, in the same order (an Outgoing's
    `recipient_id` is the follow-up row's id: the store's key), rendered up front. A
    follow-up whose step is gone is skipped (the sequence finished) and left out of both.
    Raises whatever a template raises."""
    steps = sequences.steps_of(campaign.pk)
    data = rendering.campaign_data(campaign)
    chains = thread_ids(messages)
    rendered, urls = [], set()
    for m in messages:
        if m.position not in steps:
            why_not(m, campaign.pk)
            rendered.append((m, None))
            continue
        compiled, dynamic = compiled_step(campaign, steps, m.position)
        parts = render_parts(compiled, data, m.recipient)
        if dynamic:
            urls.update(rendering.find_links(parts["html"], parts["text"], token=m.recipient.token))
        rendered.append((m, parts))
    ids = link_ids(campaign.pk, urls) if urls else {}
    out = []
    for m, parts in rendered:
        if parts is None:
            continue
        r = m.recipient
        if ids:
            parts["html"], parts["text"] = rendering.rewrite_links(parts["html"], parts["text"], r.token, ids)
        m.subject = parts["subject"][:998]
        out.append(
            Outgoing(
                recipient_id=m.pk,
                token=r.token,
                to=to_header(r),
                rcpt=r.email_address,
                message_id=m.message_id,
                subject=parts["subject"],
                html=parts["html"],
                text=parts["text"],
                headers=[
                    *thread_headers(chains[m.pk]),
                    *list_unsubscribe_headers(r.token),
                    ("X-Campaign-ID", campaign.campaign_id),
                    *reply_to_headers(r.token),
                ],
                metadata={"token": r.token, "campaign_id": campaign.campaign_id, "step": m.position},
            )
        )
    kept = [m for m, parts in rendered if parts is not None]
    RecipientMessage.objects.bulk_update(kept, ["subject"])
    return kept, out
