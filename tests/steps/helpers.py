"""Campaigns with follow-up steps, for the step tests."""

from datetime import timedelta

from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStep, Lead
from tests.factories import CampaignFactory, EmailTemplateFactory

HTML = (
    "<html><body><p>Hello {{ lead.first_name }}</p>"
    '<p><a href="https://fliptech.example/offer">Offer</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
FOLLOW_UP = (
    "<html><body><p>Just checking in, {{ lead.first_name }}.</p>"
    '<p><a href="https://fliptech.example/again">Again</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


def campaign_with_steps(n=3, steps=((timedelta(0), "no_reply", ""),), prefix="s", status=None, **fields):
    """A campaign of `n` recipients with follow-ups [(delay, condition, subject)]."""
    template = EmailTemplateFactory(subject="Offer for {{ lead.first_name }}", body_html=HTML)
    campaign = CampaignFactory(
        template=template,
        from_email="news@fliptech.example",
        status=status or Campaign.Status.RUNNING,
        started_at=timezone.now(),
        **fields,
    )
    follow = EmailTemplateFactory(subject="unused", body_html=FOLLOW_UP)
    for position, (delay, condition, subject) in enumerate(steps, start=1):
        CampaignStep.objects.create(
            campaign=campaign, position=position, delay=delay, condition=condition, subject=subject, template=follow
        )
    leads = Lead.objects.bulk_create(Lead(email=f"{prefix}{i}@example.net", first_name=f"N{i}") for i in range(n))
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(campaign=campaign, lead=lead, email_address=lead.email, first_name=lead.first_name)
        for lead in leads
    )
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=n)
    campaign.refresh_from_db()
    return campaign


def status_of(campaign):
    return Campaign.all_objects.values_list("status", flat=True).get(pk=campaign.pk)
