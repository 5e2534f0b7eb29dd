"""The batch drivers: how a message is started and handed over. Both run every message
through `step.send_one`.

- `Plain`: start (after the pace), then the whole message. On PostgreSQL without pacing the
  "sent" of one message and the "start" of the next are one statement, one round trip.
- `Overlapped` (PostgreSQL, SMTP with PIPELINING, no pacing): a helper thread with its own
  connection runs, right after the server accepted message i, the statement that records i
  as sent and starts message i+1. Meanwhile this thread sends MAIL/RCPT/DATA for i+1 —
  which delivers nothing — and waits for the start's answer before it sends the message and
  the final dot. So the start is still committed before the server can accept the message;
  if the start is refused (paused, suppressed) the connection is dropped with the DATA
  unfinished, and the server discards it.
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.utils import timezone

from ..pacing import sleep as pace_sleep
from . import store
from .step import classified

log = logging.getLogger(__name__)


class Plain:
    def __init__(self, batch, transport, pacer):
        self.batch, self.transport, self.pacer = batch, transport, pacer
        self.chain = connection.vendor == "postgresql" and not pacer.active
        self.prestarted = None  # started with the previous record?
        store.fast_commits(True)

    def prepare(self, index):
        pass

    def start(self, index, out):
        if self.prestarted is None:
            return self._start_paced(out.recipient_id), None
        started, self.prestarted = self.prestarted, None
        return started, None

    def abandon(self):
        pass

    def hand_over(self, out):
        try:
            self.transport.send(out)
        except Exception as exc:
            return classified(exc)
        return None

    def record_sent(self, index, out):
        next_id = self.batch.next_id(index) if self.chain else None
        if next_id is None:
            store.mark_sent(out.recipient_id)
        else:
            self.prestarted = store.mark_sent_and_start(out.recipient_id, next_id, self.batch.campaign.pk)

    def render_failed(self, index):
        if self.prestarted:  # started with the previous record, never handed over
            store.unstart(self.batch.recipients[index].pk)
        self.prestarted = None

    def close(self):
        store.fast_commits(False)
        self.transport.close()

    def _start_paced(self, rid) -> bool:
        """Wait for the pace, then stamp the in-flight marker."""
        pacer, campaign_id = self.pacer, self.batch.campaign.pk
        if pacer.active:
            self._sleep_renewing(pacer.reserve())
        while True:
            now = timezone.now()
            if pacer.active and not pacer.use_redis:
                with transaction.atomic():
                    wait = pacer.database_wait(now)
                    if wait <= 0:
                        return store.start(rid, campaign_id, now)
                self._sleep_renewing(wait)
                continue
            return store.start(rid, campaign_id, now)

    def _sleep_renewing(self, seconds) -> None:
        lease = self.batch.lease
        while seconds > 0:
            step = min(seconds, lease / 3)
            pace_sleep(step)
            seconds -= step
            if seconds > 0:
                store.renew_leases(self.batch.remaining)


def _record_and_start(sent_id, start_id: int, campaign_id: int) -> bool:
    if sent_id is None:
        return store.start(start_id, campaign_id)
    return store.mark_sent_and_start(sent_id, start_id, campaign_id)


def _close_connection() -> None:
    connection.close()


class Overlapped:
    def __init__(self, batch, transport):
        self.batch, self.transport = batch, transport
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send-db")
        self.pool.submit(store.fast_commits, True).result()
        self.started = None  # future: was recipients[index] started?
        self.index = None
        self.last_sent = None  # accepted by the server, not yet recorded

    def prepare(self, index):
        self.index = index
        if self.started is None:
            rid = self.batch.recipients[index].pk
            self.started = self.pool.submit(_record_and_start, None, rid, self.batch.campaign.pk)

    def start(self, index, out):
        failure = self.transport.begin(out)
        started, self.started = self.started.result(), None
        return started, failure

    def abandon(self):
        self.transport.drop()  # DATA is open: hang up so that nothing is delivered

    def hand_over(self, out):
        return self.transport.finish(out)

    def record_sent(self, index, out):
        next_id = self.batch.next_id(index)
        if next_id is None:
            self.last_sent = out.recipient_id
        else:
            self.started = self.pool.submit(_record_and_start, out.recipient_id, next_id, self.batch.campaign.pk)

    def render_failed(self, index):
        pass  # `close` resolves and undoes the unanswered start

    def close(self):
        if self.started is not None:
            # An exception left the start of recipients[index] unanswered: wait for it, and
            # undo it, since that message never went to the server.
            try:
                if self.started.result():
                    store.unstart(self.batch.recipients[self.index].pk)
            except Exception:
                log.exception("could not resolve the last start")
        if self.last_sent is not None:
            store.mark_sent(self.last_sent)
        self.pool.submit(_close_connection).result()  # the helper thread's own connection
        self.pool.shutdown()
        self.transport.close()
