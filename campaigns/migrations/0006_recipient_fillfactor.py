"""Leave 15 % of every recipient page free, so the tracking hits' updates (open and click
counts and times, none of them indexed) can be HOT: the new row version stays on its page
and none of the table's ten indexes is touched. PostgreSQL only; applies to pages written
from now on (a `VACUUM FULL` would repack the old ones)."""

from django.db import migrations

TABLE = "campaigns_campaignrecipient"


def fillfactor(value):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_recipient_campaign_sent_index"),
    ]

    operations = [
        migrations.RunPython(fillfactor(85), fillfactor(100)),
    ]
