"""Render preparation: the campaign's templates compiled once per process with tracking
written into the source, the campaign's links, and a batch's messages rendered (and built)
ahead of the sending loop."""

import queue
import threading

from django.conf import settings

from .. import rendering
from ..abtest.content import campaign_for
from ..models import CampaignLink
from . import relays
from .mime import Outgoing, Sender, build_mime, list_headers, list_unsubscribe_headers, reply_to_headers, to_header

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


def any_dynamic(campaign, recipients) -> bool:
    """Whether a message of the batch has links its template builds itself (the batch is
    then rendered up front). Compiles each A/B variant the batch needs, in this thread."""
    views = {id(v): v for v in (campaign_for(campaign, r) for r in recipients)} or {0: campaign}
    return any(compiled_for(view)[1] for view in views.values())


def outgoing_for(campaign, recipient, parts) -> Outgoing:
    """The message; `campaign` is the recipient's view of it (its A/B variant's content)."""
    metadata = {"token": recipient.token, "campaign_id": campaign.campaign_id}
    return Outgoing(
        recipient_id=recipient.pk,
        token=recipient.token,
        to=to_header(recipient),
        rcpt=recipient.email_address,
        message_id=recipient.message_id,
        subject=parts["subject"],
        html=parts["html"],
        text=parts["text"],
        headers=[
            *list_unsubscribe_headers(recipient.token),
            *list_headers(campaign),
            ("X-Campaign-ID", campaign.campaign_id),
            *relays.metadata_headers(relays.relay(), metadata),  # the ESP relay's custom data
            *reply_to_headers(recipient.token),
        ],
        metadata=metadata,
        from_header=Sender.for_campaign(campaign).from_header if campaign.ab_test else "",
    )


def render_parts(compiled, data: dict, recipient) -> dict:
    return compiled.render(
        rendering.context_for(
            lead=rendering.lead_data(recipient.lead, recipient),
            campaign=data,
            unsubscribe=rendering.unsubscribe_url(recipient.token),
            view_in_browser=rendering.view_in_browser_url(recipient.token),
            token=recipient.token,
        )
    )


def web_version(campaign, recipient) -> str:
    """The recipient's message as a web page (`SITE_URL/v/<token>/`): rendered as it was
    sent, its tracked links intact, without the open pixel (viewing it records no open)."""
    compiled, dynamic = compiled_for(campaign)
    parts = render_parts(compiled, rendering.campaign_data(campaign), recipient)
    if dynamic:
        urls = rendering.find_links(parts["html"], parts["text"], token=recipient.token, hosts=compiled.link_hosts)
        if urls:
            ids = link_ids(campaign.pk, urls)
            parts["html"], _ = rendering.rewrite_links(parts["html"], parts["text"], recipient.token, ids)
    return rendering.without_open_pixel(parts["html"], recipient.token)


class RenderFailed(Exception):
    """The campaign's template raised while rendering a recipient's message."""


def prepare_batch(campaign, recipients) -> list:
    """Render every recipient of the batch. Links the template builds itself are found in
    the rendered parts, upserted once for the batch and rewritten. Raises whatever the
    template raises."""
    rendered = []
    urls = set()
    for r in recipients:
        view = campaign_for(campaign, r)
        compiled, dynamic = compiled_for(view)
        parts = render_parts(compiled, rendering.campaign_data(view), r)
        if dynamic:
            urls.update(rendering.find_links(parts["html"], parts["text"], token=r.token, hosts=compiled.link_hosts))
        rendered.append((r, view, parts))
    ids = link_ids(campaign.pk, urls) if urls else {}
    out = []
    for r, view, parts in rendered:
        if ids:
            parts["html"], parts["text"] = rendering.rewrite_links(parts["html"], parts["text"], r.token, ids)
        out.append(outgoing_for(view, r, parts))
    return out


class RenderAhead:
    """Renders and builds the batch's messages in a helper thread, in order, while the
    sending loop waits on the database and the mail server (both release the GIL): the
    render of the next message overlaps the round trips of this one. Used when every link
    is static (no database access while rendering); `get(i)` returns message i or raises
    RenderFailed."""

    def __init__(self, campaign, recipients, sender: Sender | None):
        # Each message's view of the campaign (its A/B variant), compiled here, in the
        # caller's thread: the helper thread touches no database.
        self.views = [campaign_for(campaign, r) for r in recipients]
        self.compiled = {id(v): compiled_for(v)[0] for v in self.views}
        self.data = {id(v): rendering.campaign_data(v) for v in self.views}
        self.campaign, self.recipients, self.sender = campaign, recipients, sender
        self.queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="render-ahead", daemon=True)
        self.thread.start()

    def _run(self):
        for r, view in zip(self.recipients, self.views, strict=True):
            if self.stop.is_set():
                return
            try:
                key = id(view)
                out = outgoing_for(view, r, render_parts(self.compiled[key], self.data[key], r))
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
