"""Deliverability's cost in sending, measured in one run beside its own baseline (the machine
may be shared: every figure is printed next to the one it is compared with, with the load).

1. `SEND_DOMAIN_RATES` naming a domain that is not in the campaign vs no SEND_DOMAIN_RATES
   (alternated, --repeat times): must be within 5 %.
2. The campaign split over 10 domains, 5 of them capped (--cap per second each): the
   uncapped domains' rate (their messages / the time until their last one went) vs the same
   uncapped recipients alone and vs the baseline rate, and the capped domains' total rate
   vs 5 × the cap, with the closest gap between two messages of one capped domain.
3. DKIM: the rate with DKIM_PRIVATE_KEY set vs without, and signing's cost per message
   measured in this process (dkimpy, 2048-bit RSA, the bench message).

    DATABASE_URL=postgres://… CELERY_BROKER_URL=redis://… .venv/bin/python bench/deliverability.py

Same parts as bench/send.py (Postfix's smtp-sink, one worker process, 20 KB messages); its
leads (…bench.invalid) and campaigns are deleted afterwards.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import send as base  # bench/send.py: the sink, the worker, the message

DOMAINS = [f"d{i}.bench.invalid" for i in range(10)]


@contextmanager
def environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def setup(n, run, domains):
    from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead

    template = EmailTemplate.objects.create(
        name=f"bench {run}", subject="{{ lead.first_name }}, new listings", body_html=base.make_html()
    )
    campaign = Campaign.objects.create(
        name=f"bench {run}", template=template, from_email="news@fliptech.example", from_name="FlipTech"
    )
    leads = Lead.objects.bulk_create(
        Lead(
            email=f"b{run}.{i}@{domains[i % len(domains)]}",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            company=f"Company {i}",
            city="Austin",
            attributes={"listing": f"{i % 5 + 1}BR"},
        )
        for i in range(n)
    )
    CampaignRecipient.objects.bulk_create(
        (CampaignRecipient(campaign=campaign, lead=lead, email_address=lead.email) for lead in leads),
        batch_size=2000,
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    return campaign


def cleanup(run):
    from campaigns.models import Campaign, EmailTemplate, Lead

    Campaign.all_objects.filter(name=f"bench {run}").delete()
    EmailTemplate.objects.filter(name=f"bench {run}").delete()
    Lead.objects.filter(email__startswith=f"b{run}.", email__endswith="bench.invalid").delete()


def run(n, port, tag, domains, **env):
    """(sent, seconds, {domain: sorted seconds from the first message of each message sent}) for
    one campaign through one worker."""
    from campaigns.models import CampaignRecipient

    campaign = setup(n, tag, domains)
    try:
        with environment(**env):
            sent, elapsed = base.run_workers(campaign, 1, port, "prefork")
        rows = list(
            CampaignRecipient.objects.filter(campaign=campaign, status="sent").values_list("email_address", "sent_at")
        )
        first = min((at for _, at in rows), default=None)
        times = {}
        for address, at in rows:
            times.setdefault(address.rpartition("@")[2], []).append((at - first).total_seconds())
        return sent, elapsed, {d: sorted(t) for d, t in times.items()}
    finally:
        cleanup(tag)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def dkim_cost(key_text, messages) -> float:
    """ms per message to sign the bench message (dkimpy), in this process."""
    from campaigns.sending.signing import Signer

    signer = Signer(selector=b"bench", domain=b"fliptech.example", key=key_text.encode())
    start = time.perf_counter()
    for _, data in messages:
        signer.sign(data)
    return 1000 * (time.perf_counter() - start) / len(messages)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cap", type=int, default=5, help="messages per second for each capped domain")
    parser.add_argument("--parts", default="1,2,3", help="which measurements (1 absent, 2 ten domains, 3 DKIM)")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}

    import django

    django.setup()
    from django.conf import settings

    port = base.free_port()
    sink = base.start_sink(port)
    stamp = str(int(time.time()))
    n = args.recipients
    try:
        print(
            f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker {settings.CELERY_BROKER_URL.split(':')[0]}, {os.cpu_count()} cores, 1 worker process, "
            f"{n} recipients, smtp-sink; {load()}",
            flush=True,
        )
        none = absent_domain(n, port, stamp, args.repeat, compare=1 in parts)
        if 2 in parts:
            ten_domains(n, port, stamp, none, args.cap)
        if 3 in parts:
            dkim_part(n, port, stamp)
    finally:
        sink.terminate()
        sink.wait()


def absent_domain(n, port, stamp, repeat, *, compare: bool) -> float:
    """1. A cap on a domain the campaign does not use, alternated with none; returns the
    baseline rate (msg/s without SEND_DOMAIN_RATES)."""
    rates = {"none": [], "absent": []}
    variants = (("none", None), ("absent", "absent.example=10/s")) if compare else (("none", None),)
    for attempt in range(repeat):
        for label, value in variants:
            sent, elapsed, _ = run(n, port, f"{stamp}a{attempt}{label}", DOMAINS, SEND_DOMAIN_RATES=value)
            rates[label].append(sent / elapsed)
            print(f"  SEND_DOMAIN_RATES {label:6}: {sent} in {elapsed:5.1f} s = {sent / elapsed:5.0f} msg/s; {load()}")
    none = statistics.mean(rates["none"])
    if compare:
        absent = statistics.mean(rates["absent"])
        print(f"absent domain capped: {absent:.0f} vs {none:.0f} msg/s without = {100 * absent / none:.1f} %")
    return none


def ten_domains(n, port, stamp, none, cap):
    """2. The campaign over 10 domains, 5 of them capped at `cap`/s each, beside the same
    campaign's uncapped half alone (the uncapped rate, measured in this run)."""
    capped, free = DOMAINS[:5], DOMAINS[5:]
    alone_sent, _, alone_times = run(n // 2, port, f"{stamp}b0", free)
    alone = alone_sent / max(t[-1] for t in alone_times.values())  # measured as below: first to last
    print(f"  the 5 uncapped domains alone: {alone_sent} at {alone:.0f} msg/s; {load()}")
    value = ",".join(f"{d}={cap}/s" for d in capped)
    sent, elapsed, times = run(n, port, f"{stamp}b1", DOMAINS, SEND_DOMAIN_RATES=value)
    free_n = sum(len(times.get(d, [])) for d in free)
    capped_n = sum(len(times.get(d, [])) for d in capped)
    free_time = max(times[d][-1] for d in free if d in times)
    capped_time = max(times[d][-1] for d in capped if d in times)
    free_rate = free_n / free_time if free_time else 0
    capped_rate = capped_n / capped_time if capped_time else 0
    # While the uncapped half went, the worker also sent the capped domains' messages due then.
    capped_meanwhile = sum(1 for d in capped for t in times.get(d, []) if t <= free_time)
    gaps = [b - a for d in capped for a, b in zip(times.get(d, []), times.get(d, [])[1:], strict=False)]
    print(
        f"10 domains, 5 capped at {cap}/s: uncapped {free_rate:.0f} msg/s = {100 * free_rate / alone:.0f} % of "
        f"the uncapped domains alone ({alone:.0f} msg/s), {100 * free_rate / none:.0f} % of the whole campaign "
        f"uncapped ({none:.0f} msg/s); the worker's rate while they went, capped ones included: "
        f"{(free_n + capped_meanwhile) / free_time:.0f} msg/s; capped together {capped_rate:.1f} msg/s "
        f"(cap {5 * cap}/s), their closest gap {min(gaps):.3f} s (interval {1 / cap:.3f} s), median "
        f"{statistics.median(gaps):.3f} s; all {sent} in {elapsed:.1f} s; {load()}",
        flush=True,
    )


def dkim_part(n, port, stamp):
    """3. DKIM: signing's cost per message in-process, and the sending rate signed vs not."""
    from campaigns.management.commands.dkim_keygen import keypair

    key_text, _ = keypair(2048)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(key_text)
    messages = base.prebuilt_messages(500)
    cost = dkim_cost(key_text, messages)
    plain = run(n, port, f"{stamp}c0", DOMAINS)
    signed = run(n, port, f"{stamp}c1", DOMAINS, DKIM_PRIVATE_KEY=f.name, DKIM_SELECTOR="bench")
    plain_rate, signed_rate = plain[0] / plain[1], signed[0] / signed[1]
    print(
        f"DKIM: signing costs {cost:.2f} ms per message in-process; sending {signed_rate:.0f} msg/s signed vs "
        f"{plain_rate:.0f} unsigned = {100 * signed_rate / plain_rate:.0f} %; {load()}",
        flush=True,
    )
    os.unlink(f.name)


if __name__ == "__main__":
    main()
