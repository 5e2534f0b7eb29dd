"""What the database itself enforces."""

import pytest
from django.db import IntegrityError, transaction

from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


def test_campaign_id_is_generated_and_public():
    campaign = CampaignFactory()
    assert campaign.campaign_id.startswith("camp_")
    assert len(campaign.campaign_id) == 17
    int(campaign.campaign_id[5:], 16)


def test_duplicate_campaign_id_is_refused():
    first = CampaignFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.all_objects.filter(pk=CampaignFactory().pk).update(campaign_id=first.campaign_id)


def test_one_recipient_per_campaign_and_lead():
    recipient = CampaignRecipientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipientFactory(campaign=recipient.campaign, lead=recipient.lead)


def test_the_same_lead_may_be_in_two_campaigns():
    recipient = CampaignRecipientFactory()
    CampaignRecipientFactory(lead=recipient.lead)
    assert CampaignRecipient.objects.filter(lead=recipient.lead).count() == 2


def test_lead_email_is_unique_whatever_its_case():
    LeadFactory(email="Jane@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.bulk_create([Lead(email="JANE@example.COM")])


def test_lead_email_is_stored_lower_case():
    assert LeadFactory(email="  Bob@Example.COM ").email == "bob@example.com"


@pytest.mark.parametrize(
    "model_factory, field",
    [
        (LeadFactory, "status"),
        (CampaignFactory, "status"),
        (CampaignRecipientFactory, "status"),
        (SuppressionFactory, "reason"),
    ],
)
def test_a_status_outside_its_enum_is_refused(model_factory, field):
    obj = model_factory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(obj)._base_manager.filter(pk=obj.pk).update(**{field: "bogus"})


def test_recipient_tokens_are_long_random_and_unique():
    tokens = {CampaignRecipientFactory().token for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 32 for token in tokens)  # 24 random bytes, base64url


def test_duplicate_token_is_refused():
    first = CampaignRecipientFactory()
    second = CampaignRecipientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.filter(pk=second.pk).update(token=first.token)


def test_soft_deleted_campaign_is_hidden_by_default_manager():
    from django.utils import timezone

    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(deleted_at=timezone.now())
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert Campaign.all_objects.filter(pk=campaign.pk).exists()


def test_suppression_email_is_unique_case_insensitively():
    SuppressionFactory(email="Gone@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        SuppressionFactory(email="gone@example.com")
