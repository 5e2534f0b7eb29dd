"""The lead's engagement rollup (campaigns/lead_engagement.py): three columns beside
`last_replied_at`, filled from the recipient rows, then kept by triggers on the recipient
table (PostgreSQL here; SQLite after every migrate, campaigns/apps.py). The lead table gets a
fillfactor of 90 so the triggers' updates of a lead row can stay on its page (HOT)."""

from django.db import migrations, models

from campaigns import lead_engagement


def fillfactor(value):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {lead_engagement.LEADS} SET (fillfactor = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0016_marketer_group"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="last_received_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="last_opened_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="last_clicked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fillfactor(90), fillfactor(100)),
        migrations.RunPython(lead_engagement.install, lead_engagement.uninstall),
    ]
