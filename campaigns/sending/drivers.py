"""The batch drivers: how a message is started and handed over. Both run every message
through `step.send_one`.

- `Whole` (the file, locmem, console and anymail backends): start (after the pace), then
  the whole message in one call.
- `TwoPhase` (SMTP): MAIL/RCPT/DATA first (pipelined when the server offers PIPELINING) —
  which delivers nothing —, then the start, then the message and its final dot. So the
  start, with the in-flight mark `handed_at`, is committed right before the data is handed
  over: a sender killed before that leaves a row that is simply sent later, and one killed
  after it a row reported "interrupted" whose data the server did get. When the start is
  refused (paused, suppressed) the sender hangs up with the DATA unfinished and the server
  discards it. On PostgreSQL without pacing the "sent" of the previous message travels in
  the same statement as this start: one statement, one round trip a message.

(Until the in-flight mark, an `Overlapped` driver ran the start on a second connection
while the envelope went out; the mark must now follow the envelope, so there is nothing
left to overlap — docs/benchmarks.md has the figures.)
"""

import logging

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..pacing import sleep as pace_sleep
from . import store
from .step import classified

log = logging.getLogger(__name__)


class _Driver:
    def __init__(self, batch, transport, pacer):
        self.batch, self.transport, self.pacer = batch, transport, pacer
        self.store = batch.store
        store.fast_commits(True)

    def prepare(self, index):
        """Before message `index` is fetched: wait for its pace."""
        if self.pacer.active:
            if self.pacer.use_redis:
                self.sleep_renewing(self.pacer.reserve())
            else:
                self.sleep_renewing(self.pacer.database_wait(timezone.now()))

    def abandon(self):
        pass

    def render_failed(self, index):
        self.flush()

    def flush(self):
        pass

    def close(self):
        try:
            self.flush()
        finally:
            try:
                store.fast_commits(False)
            except DatabaseError:
                connection.close()
            self.transport.close()

    def _start(self, rid, hand=True) -> bool:
        """The start (with the in-flight mark when `hand`), under the pace's lock when the
        database paces."""
        pacer, campaign_id = self.pacer, self.batch.campaign.pk
        if not pacer.active or pacer.use_redis:
            return self.store.start(rid, campaign_id, hand=hand)
        while True:
            now = timezone.now()
            with transaction.atomic():
                wait = pacer.database_wait(now)
                if wait <= 0:
                    return self.store.start(rid, campaign_id, now, hand=hand)
            self.sleep_renewing(wait)

    def sleep_renewing(self, seconds) -> None:
        lease = self.batch.lease
        while seconds > 0:
            step = min(seconds, lease / 3)
            pace_sleep(step)
            seconds -= step
            if seconds > 0:
                self.store.renew_leases(self.batch.remaining)


class Whole(_Driver):
    def start(self, index, out):
        try:
            return self._start(out.recipient_id), None
        except DatabaseError:
            connection.close()
            self.store.unstart(out.recipient_id)  # its data will not go out
            raise

    def hand_over(self, out):
        try:
            self.transport.send(out)
        except Exception as exc:
            return classified(exc)
        return None

    def record_sent(self, index, out):
        self.store.mark_sent(out.recipient_id, out.provider_message_id)


class TwoPhase(_Driver):
    def __init__(self, batch, transport, pacer):
        super().__init__(batch, transport, pacer)
        self.chain = connection.vendor == "postgresql" and not pacer.active
        self.unrecorded = None  # (id, provider's id) accepted by the server; recorded with the next start

    def start(self, index, out):
        rid = out.recipient_id
        failure = self.transport.begin(out)
        try:
            if self.unrecorded is not None:
                (sent, provider_id), self.unrecorded = self.unrecorded, None
                try:
                    started = self.store.mark_sent_and_start(
                        sent, rid, self.batch.campaign.pk, hand=failure is None, provider_id=provider_id
                    )
                    return started, failure
                except DatabaseError:
                    self.store.mark_sent(sent, provider_id)  # durable: the server accepted it
                    raise
            return self._start(rid, hand=failure is None), failure
        except DatabaseError:
            # Whether the start committed is unknown; its data will not go out: undo it.
            connection.close()
            self.transport.drop()
            self.store.unstart(rid)
            raise

    def abandon(self):
        self.transport.drop()  # DATA is open: hang up so that nothing is delivered

    def hand_over(self, out):
        return self.transport.finish(out)

    def record_sent(self, index, out):
        if self.chain and self.batch.next_id(index) is not None:
            self.unrecorded = (out.recipient_id, out.provider_message_id)
        else:
            self.store.mark_sent(out.recipient_id, out.provider_message_id)

    def flush(self):
        if self.unrecorded is not None:
            (sent, provider_id), self.unrecorded = self.unrecorded, None
            self.store.mark_sent(sent, provider_id)
