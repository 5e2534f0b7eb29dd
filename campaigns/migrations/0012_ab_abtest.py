"""A/B tests: the campaign's `ab_test`, each recipient's `variant`, the decision, and beat's
decider (campaigns.abtest.decide.decide_due, every 10 s); the leads' `engagement_key`
(campaigns.engagement; tracking's migration 0004 installs the trigger that keeps it)."""

import django.db.models.deletion
from django.db import migrations, models

TASK = ("campaigns: decide due A/B tests", "campaigns.tasks.decide_ab_tests")


def register(apps, schema_editor=None):
    """Idempotent: tests call it again after flushing the database."""
    from django.utils import timezone

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.update_or_create(name=TASK[0], defaults={"task": TASK[1], "interval": every, "enabled": True})
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0011_recipient_autovacuum'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='lead',
            name='engagement_key',
            field=models.FloatField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='ab_test',
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='campaignrecipient',
            name='variant',
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='ABTestDecision',
            fields=[
                ('campaign', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='ab_decision', serialize=False, to='campaigns.campaign')),
                ('winner', models.CharField(max_length=100)),
                ('winner_index', models.PositiveSmallIntegerField()),
                ('decided_by', models.CharField(choices=[('auto', 'auto'), ('manual', 'manual')], max_length=10)),
                ('decided_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('decided_by__in', ['auto', 'manual'])), name='ab_decided_by_valid')],
            },
        ),
        migrations.RunPython(register, unregister),
    ]
