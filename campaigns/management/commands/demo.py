"""`manage.py demo`: a login, an API token and a small campaign to launch.

Idempotent: running it again creates no duplicates. The demo superuser's password is
reset to a new random one on every run, because only a freshly set password can be
printed (Django stores hashes). A launched demo campaign is kept as history and the
next run prepares a new draft beside it, so there is always one to launch.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from campaigns import states
from campaigns.audience import recipients_add
from campaigns.models import Campaign, EmailTemplate, Lead
from campaigns.services import campaign_create

DEMO_USERNAME = "demo"
TEMPLATE_NAME = "Demo: spring offer"
CAMPAIGN_NAME = "Demo campaign"

SUBJECT = 'A spring offer for {{ lead.first_name|default:"you" }}'
BODY_HTML = """<html><body style="font-family: sans-serif">
<p>Hello {{ lead.first_name|default:"there" }},</p>
<p>FlipTech Pro helps {{ lead.company|default:"your business" }} find new customers.
<a href="https://www.example.com/spring-offer">See this spring's offer</a>.</p>
<p>The FlipTech team</p>
<p style="font-size: small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""

LEADS = [
    ("alice@example.com", "Alice", "Martin", "Martin Plumbing", "Austin", "craigslist"),
    ("bob@example.org", "Bob", "Nguyen", "Nguyen Roofing", "Denver", "google_maps"),
    ("carla@example.net", "Carla", "Rossi", "Rossi Bakery", "Chicago", "linkedin"),
    ("dmitri@example.com", "Dmitri", "Ivanov", "Ivanov Movers", "Seattle", "job_boards"),
    ("erin@example.org", "", "", "", "Boston", "craigslist"),  # no name: "Hello there"
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo superuser, its API token and a draft demo campaign."

    @transaction.atomic
    def handle(self, *args, **options):
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.com"})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)

        template, _ = EmailTemplate.objects.get_or_create(
            name=TEMPLATE_NAME,
            defaults={
                "description": "Created by manage.py demo.",
                "category": "demo",
                "subject": SUBJECT,
                "body_html": BODY_HTML,
            },
        )
        leads = []
        for email, first, last, company, city, source in LEADS:
            lead, _ = Lead.objects.get_or_create(
                email=email,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "company": company,
                    "city": city,
                    "source": source,
                    "tags": ["demo"],
                },
            )
            leads.append(lead)

        campaign = (
            Campaign.objects.filter(name=CAMPAIGN_NAME, created_by=user, status=states.DRAFT).order_by("pk").first()
        )
        if campaign is None:
            campaign = campaign_create(
                user=user,
                name=CAMPAIGN_NAME,
                template=template,
                description="Created by manage.py demo: launch it from the admin.",
            )
        # Through the same service as the API: leads already added are reported, not doubled.
        recipients_add(campaign=campaign, lead_ids=[lead.pk for lead in leads])
        campaign.refresh_from_db()

        site = settings.SITE_URL
        mail = (
            getattr(settings, "EMAIL_FILE_PATH", "")
            if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend")
            else ""
        )
        lines = [
            "",
            "=" * 64,
            "  FlipTech Campaigns demo",
            f"  Admin:      {site}/admin/",
            f"  Login:      {DEMO_USERNAME} / {password}",
            f"  API token:  {token.key}",
            f'  Try:        curl -H "Authorization: Token {token.key}" {site}/api/v1/campaigns',
            f"  API docs:   {site}/api/docs/",
            f"  Campaign:   {campaign.name!r} ({campaign.campaign_id}), {campaign.total_recipients} "
            f"recipients, {campaign.status}",
            f"              launch it at {site}/admin/campaigns/campaign/{campaign.pk}/change/",
        ]
        if mail:
            lines.append(f"  Sent mail:  .eml files in {mail}")
        lines += ["=" * 64, ""]
        self.stdout.write("\n".join(lines))
