"""The engagement score's trigger on events (tracking/engagement.py), after a backfill of the
keys from the human opens, clicks and replies recorded so far."""

from django.db import migrations

from tracking import engagement


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_lighter_event_inserts"),
        ("campaigns", "0012_ab_abtest"),
    ]

    operations = [migrations.RunPython(engagement.install, engagement.uninstall)]
