"""Vacuum the recipient table after 1 % of it (plus 5,000 rows) has changed, instead of
PostgreSQL's default 20 %.

A sending campaign turns every `pending` row into `sent`, so the `recipient_claim` index
(`(campaign, id) WHERE status = 'pending'`) keeps an entry for each row version that left
`pending` until a vacuum removes it, and every claim walks past those entries. With the
default 20 % a campaign of 1,000,000 recipients carries up to 200,000 of them between
vacuums (the claim of 200 rows then takes ~1 s instead of ~40 ms, `bench/scale.py`); at 1 %
it is ~15,000. PostgreSQL only (a storage parameter; SQLite has no such thing).
"""

from django.db import migrations

TABLE = "campaigns_campaignrecipient"


def autovacuum(scale_factor, threshold):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if scale_factor is None:
            schema_editor.execute(
                f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,"
                " autovacuum_analyze_scale_factor)"
            )
        else:
            schema_editor.execute(
                f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_scale_factor = {scale_factor},"
                f" autovacuum_vacuum_threshold = {threshold}, autovacuum_analyze_scale_factor = {scale_factor})"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_segments"),
    ]

    operations = [
        migrations.RunPython(autovacuum(0.01, 5000), autovacuum(None, None)),
    ]
