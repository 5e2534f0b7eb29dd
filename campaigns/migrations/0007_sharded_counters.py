"""CampaignCounters becomes up to `counters.SHARDS` rows per campaign (see the model and `campaigns.counters`).

The table is dropped and made again, then filled from the recipient rows and its triggers
created: counters are derived data, so nothing is lost. Going back past here leaves the old
table without triggers; migrate back to 0003 and forward again instead.
"""

import django.db.models.deletion
from django.db import migrations, models

from campaigns import counters


def drop_triggers(apps, schema_editor):
    counters.uninstall(schema_editor)


def install(apps, schema_editor):
    counters.install(schema_editor)


def uninstall(apps, schema_editor):
    counters.uninstall(schema_editor)


FIELDS = [
    "recipients", "status_pending", "status_queued", "status_sent", "status_failed", "status_bounced",
    "status_unsubscribed", "emails_sent", "emails_opened", "emails_clicked", "emails_replied", "emails_bounced",
    "emails_unsubscribed", "emails_complained", "machine_opens", "machine_clicks", "total_opens", "total_clicks",
]


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_recipient_fillfactor"),
    ]

    operations = [
        migrations.RunPython(drop_triggers, migrations.RunPython.noop),
        migrations.DeleteModel(name="CampaignCounters"),
        migrations.CreateModel(
            name="CampaignCounters",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("shard", models.PositiveSmallIntegerField(default=0)),
                *[(name, models.BigIntegerField(default=0)) for name in FIELDS],
                ("campaign", models.ForeignKey(
                    db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="counters",
                    to="campaigns.campaign",
                )),
            ],
            options={
                "verbose_name_plural": "campaign counters",
                "constraints": [
                    models.UniqueConstraint(fields=("campaign", "shard"), name="counters_campaign_shard_unique")
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
