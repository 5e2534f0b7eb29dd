import factory
from django.contrib.auth import get_user_model

from campaigns.models import Campaign, CampaignLink, CampaignRecipient, EmailTemplate, Lead, Suppression
from tracking.models import EmailTracking


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests-only")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    city = "Austin"
    source = "craigslist"
    tags = factory.LazyFunction(lambda: ["plumbing"])
    attributes = factory.LazyFunction(lambda: {"listing": "2BR apartment"})


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    category = "offer"
    subject = "An offer for {{ lead.first_name|default:'you' }}"
    body_html = (
        "<html><body><p>Hello {{ lead.first_name|default:'there' }},</p>"
        '<p>See <a href="https://fliptech.example/offer">our offer</a>.</p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
    )
    body_text = ""


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    template = factory.SubFactory(EmailTemplateFactory)
    created_by = factory.SubFactory(UserFactory)


class CampaignRecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignRecipient

    campaign = factory.SubFactory(CampaignFactory)
    lead = factory.SubFactory(LeadFactory)
    email_address = factory.LazyAttribute(lambda r: r.lead.email if r.lead else "someone@example.com")
    first_name = factory.LazyAttribute(lambda r: r.lead.first_name if r.lead else "")
    last_name = factory.LazyAttribute(lambda r: r.lead.last_name if r.lead else "")


class CampaignLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignLink

    campaign = factory.SubFactory(CampaignFactory)
    url = factory.Sequence(lambda n: f"https://fliptech.example/page/{n}")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    reason = Suppression.Reason.MANUAL


class EmailTrackingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTracking

    campaign_recipient = factory.SubFactory(CampaignRecipientFactory)
    campaign = factory.LazyAttribute(lambda e: e.campaign_recipient.campaign)
    event_type = EmailTracking.EventType.OPEN
