"""Render preparation: the campaign's templates compiled once per process with tracking
written into the source, the campaign's links, and a batch's messages rendered (and built)
ahead of the sending loop."""

import queue
import threading

from django.conf import settings

from .. import rendering
from ..models import CampaignLink
from .mime import Outgoing, Sender, build_mime, list_unsubscribe_headers, to_header

_compiled = {}


def compiled_for(campaign) -> tuple:
    """(CompiledMessage, dynamic links?) for the campaign: tracking written into the sources
    (static links upserted once), compiled once per process. Content cannot change while a
    campaign runs; the key changes if it is edited while paused."""
    template = campaign.template
    key = (
        campaign.pk,
        template.pk,
        template.updated_at,
        campaign.subject,
        campaign.track_clicks,
        campaign.track_opens,
        settings.SITE_URL,
    )
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) > 64:
            _compiled.clear()
        sources = rendering.message_sources(campaign=campaign)
        body_html, body_text, dynamic = rendering.instrument_source(
            sources["body_html"],
            sources["body_text"] or "",
            link_ids_for=lambda urls: link_ids(campaign.pk, urls),
            track_clicks=campaign.track_clicks,
            track_opens=campaign.track_opens,
        )
        compiled = rendering.compile_message(subject=sources["subject"], body_html=body_html, body_text=body_text)
        # Links built from lead data are tracked only for the template's own hosts.
        compiled.link_hosts = rendering.link_hosts(sources["body_html"], sources["body_text"] or "")
        found = _compiled[key] = (compiled, dynamic)
    return found


_link_ids = {}  # (campaign pk, url) → CampaignLink pk, per process


def link_ids(campaign_id: int, urls) -> dict:
    """{url: CampaignLink pk} for `urls`, creating missing links in one bulk insert."""
    missing = {u for u in urls if (campaign_id, u) not in _link_ids}
    if missing:
        if len(_link_ids) > 100_000:
            _link_ids.clear()
        by_hash = {CampaignLink.hash_url(u): u for u in missing}
        CampaignLink.objects.bulk_create(
            [CampaignLink(campaign_id=campaign_id, url=u, url_hash=h) for h, u in by_hash.items()],
            ignore_conflicts=True,
        )
        for h, pk in CampaignLink.objects.filter(campaign_id=campaign_id, url_hash__in=list(by_hash)).values_list(
            "url_hash", "pk"
        ):
            _link_ids[(campaign_id, by_hash[h])] = pk
    return {u: _link_ids[(campaign_id, u)] for u in urls}


def outgoing_for(campaign, recipient, parts) -> Outgoing:
    return Outgoing(
        recipient_id=recipient.pk,
        token=recipient.token,
        to=to_header(recipient),
        rcpt=recipient.email_address,
        message_id=recipient.message_id,
        subject=parts["subject"],
        html=parts["html"],
        text=parts["text"],
        headers=[*list_unsubscribe_headers(recipient.token), ("X-Campaign-ID", campaign.campaign_id)],
        metadata={"token": recipient.token, "campaign_id": campaign.campaign_id},
    )


def render_parts(compiled, data: dict, recipient) -> dict:
    return compiled.render(
        rendering.context_for(
            lead=rendering.lead_data(recipient.lead, recipient),
            campaign=data,
            unsubscribe=rendering.unsubscribe_url(recipient.token),
            token=recipient.token,
        )
    )


class RenderFailed(Exception):
    """The campaign's template raised while rendering a recipient's message."""


def prepare_batch(campaign, recipients) -> list:
    """Render every recipient of the batch. Links the template builds itself are found in
    the rendered parts, upserted once for the batch and rewritten. Raises whatever the
    template raises."""
    compiled, dynamic = compiled_for(campaign)
    data = rendering.campaign_data(campaign)
    rendered = []
    urls = set()
    for r in recipients:
        parts = render_parts(compiled, data, r)
        if dynamic:
            urls.update(rendering.find_links(parts["html"], parts["text"], token=r.token, hosts=compiled.link_hosts))
        rendered.append((r, parts))
    ids = link_ids(campaign.pk, urls) if urls else {}
    out = []
    for r, parts in rendered:
        if ids:
            parts["html"], parts["text"] = rendering.rewrite_links(parts["html"], parts["text"], r.token, ids)
        out.append(outgoing_for(campaign, r, parts))
    return out


class RenderAhead:
    """Renders and builds the batch's messages in a helper thread, in order, while the
    sending loop waits on the database and the mail server (both release the GIL): the
    render of the next message overlaps the round trips of this one. Used when every link
    is static (no database access while rendering); `get(i)` returns message i or raises
    RenderFailed."""

    def __init__(self, campaign, recipients, sender: Sender | None):
        self.compiled, _ = compiled_for(campaign)
        self.campaign, self.recipients, self.sender = campaign, recipients, sender
        self.data = rendering.campaign_data(campaign)
        self.queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="render-ahead", daemon=True)
        self.thread.start()

    def _run(self):
        for r in self.recipients:
            if self.stop.is_set():
                return
            try:
                out = outgoing_for(self.campaign, r, render_parts(self.compiled, self.data, r))
                if self.sender is not None:
                    out.data = build_mime(out, self.sender)
            except Exception as exc:  # handed to the sending loop
                self.queue.put(exc)
                return
            self.queue.put(out)

    def get(self, index: int) -> Outgoing:
        item = self.queue.get()
        if isinstance(item, Exception):
            raise RenderFailed(str(item)) from item
        return item

    def close(self):
        self.stop.set()


class Prepared:
    """The same interface over a batch rendered up front (templates with dynamic links)."""

    def __init__(self, messages):
        self.messages = messages

    def get(self, index: int) -> Outgoing:
        return self.messages[index]

    def close(self):
        pass
