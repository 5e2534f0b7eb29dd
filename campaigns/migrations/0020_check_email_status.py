"""Lead `email_status` (campaigns/addresses.py) and the import report's `risky` count.

The column is added as `unknown` (on PostgreSQL 11+ a constant default rewrites nothing), then
existing leads are classified in batches of BATCH by primary key: one SELECT of (id, email) and
at most three UPDATEs (valid / risky / invalid) per batch, with the same function the lead
writers use, without DNS (the MX check is for addresses written from now on). `updated_at`
stays as it was.
"""

from django.db import migrations, models

import campaigns.models.base

BATCH = 5000


def classify(apps, schema_editor):
    from campaigns.addresses import stored_status

    Lead = apps.get_model("campaigns", "Lead")
    last = 0
    while True:
        rows = list(Lead.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "email")[:BATCH])
        if not rows:
            return
        by_status = {}
        for pk, email in rows:
            by_status.setdefault(stored_status(email or "", check_mx=False), []).append(pk)
        for status, pks in by_status.items():
            Lead.objects.filter(pk__in=pks).update(email_status=status)
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0019_pace_recipient_claim_domain")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="email_status",
            field=models.CharField(
                choices=[("valid", "Valid"), ("risky", "Risky"), ("invalid", "Invalid"), ("unknown", "Unknown")],
                db_index=True,
                default="unknown",
                editable=False,
                help_text="valid; risky (a role account such as info@, or a disposable domain); invalid (the "
                "domain takes no mail: checked only with EMAIL_CHECK_MX=1); unknown (the check could not answer).",
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="lead",
            constraint=campaigns.models.base.status_check(
                "lead_email_status_valid",
                "email_status",
                [("valid", "Valid"), ("risky", "Risky"), ("invalid", "Invalid"), ("unknown", "Unknown")],
            ),
        ),
        migrations.AddField(model_name="leadimport", name="risky", field=models.PositiveIntegerField(default=0)),
        migrations.RunPython(classify, migrations.RunPython.noop, elidable=True),
    ]
