"""Render preparation, for first messages and follow-ups alike: templates compiled once per
process with tracking written into the source (`compile_cached`), the campaign's links, and
a batch's messages (`Job`s) rendered up front (`render_all`) or built ahead of the sending
loop (`RenderAhead`). What differs for follow-ups (their step's template, subject and
thread) is `followup_messages`'."""

import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from .. import rendering
from ..abtest.content import campaign_for
from ..models import CampaignLink
from . import relays
from .mime import Outgoing, Sender, build_mime, list_headers, list_unsubscribe_headers, reply_to_headers, to_header

_compiled = {}


def compile_cached(key: tuple, campaign, sources: Callable) -> tuple:
    """(CompiledMessage, dynamic links?) of the message `sources()` gives (subject,
    body_html, body_text), tracking written into the source (static links upserted once),
    compiled once per process under `key` — which must change when the content does."""
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) > 64:
            _compiled.clear()
        subject, source_html, source_text = sources()
        body_html, body_text, dynamic = rendering.instrument_source(
            source_html,
            source_text or "",
            link_ids_for=lambda urls: link_ids(campaign.pk, urls),
            track_clicks=campaign.track_clicks,
            track_opens=campaign.track_opens,
        )
        compiled = rendering.compile_message(subject=subject, body_html=body_html, body_text=body_text)
        # Links built from lead data are tracked only for the template's own hosts.
        compiled.link_hosts = rendering.link_hosts(source_html, source_text or "")
        found = _compiled[key] = (compiled, dynamic)
    return found


def compiled_for(campaign) -> tuple:
    """The campaign's first message (`compile_cached`). Content cannot change while a
    campaign runs; the key changes if it is edited while paused."""
    template = campaign.template
    key = (
        "first",
        campaign.pk,
        template.pk,
        template.updated_at,
        campaign.subject,
        campaign.track_clicks,
        campaign.track_opens,
        settings.SITE_URL,
    )

    def sources():
        found = rendering.message_sources(campaign=campaign)
        return found["subject"], found["body_html"], found["body_text"]

    return compile_cached(key, campaign, sources)


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


def outgoing_for(campaign, recipient, parts, *, message=None, thread=()) -> Outgoing:
    """The message to `recipient`; `campaign` is its view (its A/B variant's content). A
    follow-up (`message`, its RecipientMessage row, the Store's key) has its own Message-ID
    and the thread headers (`thread`); every message has the same tracking, unsubscribe,
    list and relay headers."""
    metadata = {"token": recipient.token, "campaign_id": campaign.campaign_id}
    if message is not None:
        metadata["step"] = message.position
    return Outgoing(
        recipient_id=recipient.pk if message is None else message.pk,
        token=recipient.token,
        to=to_header(recipient),
        rcpt=recipient.email_address,
        message_id=recipient.message_id if message is None else message.message_id,
        subject=parts["subject"],
        html=parts["html"],
        text=parts["text"],
        headers=[
            *thread,
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
    job = Job(compiled, dynamic, rendering.campaign_data(campaign), recipient, finish=lambda parts: parts)
    parts = render_all(campaign.pk, [job])[0]
    return rendering.without_open_pixel(parts["html"], recipient.token)


class RenderFailed(Exception):
    """The campaign's template raised while rendering a recipient's message."""


@dataclass
class Job:
    """One message of a batch to render: its compiled template, the campaign's data, its
    recipient, and `finish(parts)` → its Outgoing."""

    compiled: object
    dynamic: bool
    data: dict
    recipient: object
    finish: Callable

    def render(self) -> dict:
        return render_parts(self.compiled, self.data, self.recipient)


def first_jobs(campaign, recipients) -> list:
    """The batch's first messages, each with its view of the campaign (its A/B variant),
    compiled here, in the caller's thread (a helper thread then touches no database)."""
    jobs, data = [], {}
    for r in recipients:
        view = campaign_for(campaign, r)
        compiled, dynamic = compiled_for(view)
        if id(view) not in data:
            data[id(view)] = rendering.campaign_data(view)
        jobs.append(Job(compiled, dynamic, data[id(view)], r, functools.partial(outgoing_for, view, r)))
    return jobs


def render_all(campaign_id: int, jobs) -> list:
    """Render every job up front. Links the templates build themselves are found in the
    rendered parts, upserted once for the batch and rewritten. Raises whatever a template
    raises."""
    rendered, urls = [], set()
    for job in jobs:
        parts = job.render()
        if job.dynamic:
            token, hosts = job.recipient.token, job.compiled.link_hosts
            urls.update(rendering.find_links(parts["html"], parts["text"], token=token, hosts=hosts))
        rendered.append((job, parts))
    ids = link_ids(campaign_id, urls) if urls else {}
    out = []
    for job, parts in rendered:
        if ids:
            token = job.recipient.token
            parts["html"], parts["text"] = rendering.rewrite_links(parts["html"], parts["text"], token, ids)
        out.append(job.finish(parts))
    return out


def prepare_batch(campaign, recipients) -> list:
    """Every first message of the batch, rendered up front (`render_all`)."""
    return render_all(campaign.pk, first_jobs(campaign, recipients))


class RenderAhead:
    """Renders and builds the batch's messages (`Job`s) in a helper thread, in order, while
    the sending loop waits on the database and the mail server (both release the GIL): the
    render of the next message overlaps the round trips of this one. Used when every link
    is static (no database access while rendering); `get(i)` returns message i or raises
    RenderFailed."""

    def __init__(self, jobs, sender: Sender | None):
        self.jobs, self.sender = jobs, sender
        self.queue = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="render-ahead", daemon=True)
        self.thread.start()

    def _run(self):
        for job in self.jobs:
            if self.stop.is_set():
                return
            try:
                out = job.finish(job.render())
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
