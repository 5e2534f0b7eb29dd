"""The claim's per-domain quotas (SEND_DOMAIN_RATES): `(campaign, domain, id) WHERE status =
'pending'`, the domain being `EMAIL_DOMAIN` (lower case, after the first "@"). A capped
domain's lowest pending ids are one range of it, and a domain the campaign does not use costs
one probe (docs/sending.md, "Pace")."""

from django.db import migrations, models
from django.db.models import F, Value
from django.db.models.functions import Lower, StrIndex, Substr


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0018_loop_followup_bounces"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="campaignrecipient",
            index=models.Index(
                F("campaign"),
                Substr(Lower("email_address"), StrIndex("email_address", Value("@")) + 1),
                F("id"),
                condition=models.Q(("status", "pending")),
                name="recipient_claim_domain",
            ),
        ),
    ]
