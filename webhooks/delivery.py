"""The worker side: claim due deliveries, POST them, record what the endpoints answered.

`drain` is what the beat-driven task runs (`tasks.deliver_webhooks`): it claims due pending
deliveries in batches (`SELECT … FOR UPDATE SKIP LOCKED`, so several workers share the work
and never take the same row), POSTs each batch concurrently from a thread pool, and records
the answers with a few set-based UPDATEs. The queue is the table, not the broker: a broker
restart, a lost task or a killed worker loses nothing — a claimed delivery's
`next_attempt_at` is its lease, and once the lease runs out it is due again.

Delivery is at least once (a worker that dies after the POST and before recording it sends
it again); receivers deduplicate by the payload's `id`.

A 2xx answer is `delivered`. Anything else — another status (redirects are not followed), a
timeout, a refused connection, a URL that now resolves to a private address — is retried
after WEBHOOKS_RETRY_BASE_SECONDS × 2^(attempt − 1) (at most WEBHOOKS_RETRY_MAX_SECONDS,
jittered down by up to a quarter so retries of one outage spread out) for
WEBHOOKS_RETRY_FOR_SECONDS after the event, then `failed`. Deliveries of an inactive
endpoint wait, pending, until it is active again.
"""

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from . import payloads, urls_safe
from .models import WebhookDelivery

log = logging.getLogger(__name__)
Status = WebhookDelivery.Status


def lease_seconds() -> float:
    """How long a claim holds: a full batch at WEBHOOKS_CONCURRENCY at a time, each round as
    long as the timeout, plus a margin. A worker that dies frees its claims after this."""
    rounds = -(-settings.WEBHOOKS_BATCH_SIZE // settings.WEBHOOKS_CONCURRENCY)
    return rounds * settings.WEBHOOKS_TIMEOUT_SECONDS + 30


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones (≥ 1)."""
    delay = min(settings.WEBHOOKS_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.WEBHOOKS_RETRY_MAX_SECONDS)
    return delay * (1 - random.random() / 4)


def _due():
    return WebhookDelivery.objects.filter(status=Status.PENDING, endpoint__active=True)


def claim(limit: int) -> list[WebhookDelivery]:
    """Up to `limit` due deliveries, oldest first, leased to this worker (attempts + 1),
    with their endpoint, campaign and recipient. Three queries."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _due()
            .filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        WebhookDelivery.objects.filter(pk__in=ids).update(
            next_attempt_at=now + timedelta(seconds=lease_seconds()), attempts=F("attempts") + 1
        )
    return list(
        WebhookDelivery.objects.filter(pk__in=ids)
        .select_related("endpoint", "campaign", "recipient")
        .only(*_LOADED)
        .order_by("pk")
    )


# What `payloads` and `record` read: nothing else is fetched (a batch is hundreds of rows).
_LOADED = (
    "id",
    "event_id",
    "type",
    "url",
    "extra",
    "status",
    "attempts",
    "created_at",
    "campaign_id",
    "recipient_id",
    "endpoint__id",
    "endpoint__url",
    "endpoint__secret",
    "campaign__id",
    "campaign__campaign_id",
    "recipient__id",
    "recipient__email_address",
)


# --- HTTP ----------------------------------------------------------------------------

_pools: dict = {}
_pools_lock = threading.Lock()
_executor = None
_dispatcher = None


def _pool(target: urls_safe.Target):
    """A keep-alive connection pool per checked address (and host name, for TLS)."""
    key = (target.scheme, target.address, target.port, target.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options = {"maxsize": settings.WEBHOOKS_CONCURRENCY, "retries": False}
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                    cert_reqs="CERT_REQUIRED",
                    **options,
                )
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
            if len(_pools) > 1000:
                _pools.clear()
            _pools[key] = pool
        return pool


def _host_header(target: urls_safe.Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def post(target: urls_safe.Target, body: bytes, headers: dict) -> tuple[int | None, str]:
    """POST `body` to the checked address: (status code or None, error text)."""
    try:
        response = _pool(target).urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": _host_header(target)},
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(total=settings.WEBHOOKS_TIMEOUT_SECONDS),
            preload_content=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        return None, str(exc)[:500] or exc.__class__.__name__
    try:
        snippet = response.read(512)
        response.drain_conn()
    except urllib3.exceptions.HTTPError:
        snippet = b""
    finally:
        response.release_conn()
    if 200 <= response.status < 300:
        return response.status, ""
    return response.status, f"HTTP {response.status}: {snippet.decode('utf-8', 'replace')}"[:500]


def _executor_():
    global _executor
    if _executor is None:  # per process: a prefork child makes its own after the fork
        _executor = ThreadPoolExecutor(max_workers=settings.WEBHOOKS_CONCURRENCY, thread_name_prefix="webhook")
    return _executor


def _dispatcher_():
    """One thread that runs `send` for a batch while the caller claims the next one."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-batch")
    return _dispatcher


def send(batch: list[WebhookDelivery]) -> list[tuple[WebhookDelivery, int | None, str]]:
    """POST every delivery of the batch (WEBHOOKS_CONCURRENCY at a time); each endpoint's
    URL resolved and checked once per batch. No database access here."""
    targets: dict[str, urls_safe.Target | urls_safe.UnsafeURL] = {}
    jobs = []
    for delivery in batch:
        url = delivery.endpoint.url
        if url not in targets:
            try:
                targets[url] = urls_safe.resolve(url)
            except urls_safe.UnsafeURL as exc:
                targets[url] = exc
        body = payloads.body_of(delivery)
        jobs.append((delivery, targets[url], body, payloads.headers_of(delivery, body)))

    def run(job):
        delivery, target, body, headers = job
        if isinstance(target, urls_safe.UnsafeURL):
            return delivery, None, f"Refused: {target}"
        return (delivery, *post(target, body, headers))

    return list(_executor_().map(run, jobs))


# --- Recording -------------------------------------------------------------------------


def record(results: list[tuple[WebhookDelivery, int | None, str]]) -> dict:
    """Write the answers: delivered rows grouped by status code (one UPDATE per code), the
    others (each with its own next try) in one bulk UPDATE."""
    now = timezone.now()
    delivered: dict[int, list[int]] = {}
    retried = []
    for delivery, code, error in results:
        if code is not None and 200 <= code < 300:
            delivered.setdefault(code, []).append(delivery.pk)
            continue
        delivery.response_code, delivery.last_error = code, error
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        if next_at > delivery.created_at + timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS):
            delivery.status, delivery.next_attempt_at = Status.FAILED, None
        else:
            delivery.next_attempt_at = next_at
        retried.append(delivery)
    with transaction.atomic():
        for code, ids in delivered.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=Status.DELIVERED, delivered_at=now, next_attempt_at=None, response_code=code, last_error=""
            )
        if retried:
            WebhookDelivery.objects.bulk_update(
                retried, ["status", "next_attempt_at", "response_code", "last_error"], batch_size=500
            )
    return {
        "delivered": sum(len(ids) for ids in delivered.values()),
        "failed": sum(1 for d in retried if d.status == Status.FAILED),
        "retrying": sum(1 for d in retried if d.status == Status.PENDING),
    }


def drain(*, budget_seconds: float | None = None, batch_size: int | None = None) -> dict:
    """Deliver due deliveries for up to `budget_seconds` (WEBHOOKS_DRAIN_SECONDS): batch
    after batch while any are due; when none is, wait for a retry that falls due before the
    budget is spent (so a quick retry needs no next beat tick), else return."""
    budget = settings.WEBHOOKS_DRAIN_SECONDS if budget_seconds is None else budget_seconds
    size = batch_size or settings.WEBHOOKS_BATCH_SIZE
    deadline = time.monotonic() + budget
    totals = {"delivered": 0, "failed": 0, "retrying": 0}
    while time.monotonic() < deadline:
        batch = claim(size)
        if batch:
            # Pipelined: while one batch is being POSTed (another thread; no database there),
            # this thread claims the next, then records the first — the database's round trips
            # overlap the receivers'.
            while batch:
                sending = _dispatcher_().submit(send, batch)
                batch = claim(size) if time.monotonic() < deadline else []
                for key, value in record(sending.result()).items():
                    totals[key] += value
            continue
        next_at = _due().aggregate(at=Min("next_attempt_at"))["at"]
        wait = (next_at - timezone.now()).total_seconds() if next_at else None
        remaining = deadline - time.monotonic()
        if wait is None or wait >= remaining:
            break
        time.sleep(max(wait, 0.02))
    return totals
