"""Issue 12's address checks and pre-send checklist, each figure beside its own baseline
measured in the same run (the machine may be shared; the load average is printed).

1. Cleaning a lead's email as endpoint 7 and every import row do: the old check (Django's
   validator) vs the new one (+ email-validator's syntax + `email_status`, no DNS), per address
   and as rows/s — the ceiling an import's cleaning thread can reach.
2. The same with EMAIL_CHECK_MX=1 against a dnslib DNS server on loopback: 1,000 distinct
   domains (one lookup each), then the same addresses again (the per-domain cache).
3. The checklist of a one-recipient campaign: launch's gate (no DNS) vs the GET (DKIM, SPF,
   DMARC from the loopback DNS), milliseconds per call.

    DATABASE_URL=postgres://… .venv/bin/python bench/addresses.py

Its campaign, template and lead are deleted afterwards.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fliptech.settings")


def per_call(fn, items, repeat=3):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            fn(item)
        elapsed = (time.perf_counter() - started) / len(items)
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    import django

    django.setup()
    from django.conf import settings
    from django.core.validators import validate_email

    from campaigns import addresses, checklist
    from campaigns.lead_input import clean_email
    from campaigns.models import Campaign, CampaignRecipient, EmailTemplate, Lead
    from tests.conftest import DNSZone

    print("load average before:", os.getloadavg())
    emails = [f"person{i}@{['gmail.com', 'shop.example', 'mailinator.com'][i % 3]}" for i in range(20_000)]
    emails += [f"info{i}@company{i % 97}.example" for i in range(1000)]

    def old(email):
        validate_email(email.strip().lower())

    def new(email):
        addresses.address_status(clean_email(email), check_mx=False)

    base, full = per_call(old, emails), per_call(new, emails)
    print(f"1. clean email: old {base * 1e6:.1f} µs ({1 / base:,.0f}/s)  new {full * 1e6:.1f} µs ({1 / full:,.0f}/s)")

    zone = DNSZone()
    try:
        for i in range(1000):
            zone.records[(f"d{i}.example.", "MX")] = [(10, f"mx.d{i}.example.")]
        settings.DNS_NAMESERVERS, settings.DNS_TIMEOUT = [f"127.0.0.1:{zone.port}"], 2.0
        mx_emails = [f"ann@d{i}.example" for i in range(1000)]
        addresses._mx_cache.clear()
        started = time.perf_counter()
        for email in mx_emails:
            addresses.address_status(email, check_mx=True)
        cold = (time.perf_counter() - started) / len(mx_emails)
        warm = per_call(lambda e: addresses.address_status(e, check_mx=True), mx_emails)
        print(
            f"2. EMAIL_CHECK_MX=1: a new domain {cold * 1e3:.2f} ms (a loopback DNS), a known one {warm * 1e6:.1f} µs"
        )

        template = EmailTemplate.objects.create(
            name="bench checklist",
            subject="{{ lead.first_name }}, three kitchens",
            body_html='<p>Hello {{ lead.first_name }}</p><p><a href="https://x.example/">x</a> '
            '<a href="{{ unsubscribe_url }}">unsubscribe</a></p>',
        )
        campaign = Campaign.objects.create(name="bench checklist", template=template, from_email="n@d1.example")
        lead = Lead.objects.create(email="bench.checklist@d2.example", first_name="Ann")
        CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=lead.email)
        try:
            gate = [0.0] * 20
            for i in range(len(gate)):
                started = time.perf_counter()
                checklist.run(campaign, with_dns=False)
                gate[i] = time.perf_counter() - started
            full_run = [0.0] * 20
            for i in range(len(full_run)):
                started = time.perf_counter()
                checklist.checklist(campaign=campaign)
                full_run[i] = time.perf_counter() - started
            print(
                f"3. checklist: launch's gate {statistics.median(gate) * 1e3:.1f} ms, "
                f"the GET (with DNS) {statistics.median(full_run) * 1e3:.1f} ms (medians of 20)"
            )
        finally:
            campaign.delete()
            template.delete()
            lead.delete()
    finally:
        zone.stop()
    print("load average after:", os.getloadavg())


if __name__ == "__main__":
    main()
