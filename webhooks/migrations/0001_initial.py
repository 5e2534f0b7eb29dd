"""Webhook endpoints and deliveries, the triggers that queue deliveries (webhooks/events.py), and
the delivery task's beat schedule."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import webhooks.models
from webhooks import events

TASK_NAME = "webhooks: deliver due webhooks"


def register(apps, schema_editor=None):
    """The beat entry of `webhooks.tasks.deliver_webhooks`, every WEBHOOKS_BEAT_SECONDS; a tick
    not picked up within two intervals (at least 10 s) expires, so busy workers do not find a
    pile of them (the next tick does the work). Idempotent: tests
    call it again after flushing the database."""
    from django.utils import timezone

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    seconds = settings.WEBHOOKS_BEAT_SECONDS
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "webhooks.tasks.deliver_webhooks", "interval": every, "enabled": True, "expire_seconds": max(10, 2 * seconds)},
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('campaigns', '0010_segments'),
        ('tracking', '0003_lighter_event_inserts'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.URLField(max_length=2000)),
                ('events', models.JSONField(default=list)),
                ('secret', models.CharField(max_length=255)),
                ('active', models.BooleanField(default=True)),
                ('description', models.CharField(blank=True, max_length=255)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_id', models.CharField(default=webhooks.models.new_event_id, max_length=40)),
                ('type', models.CharField(choices=[('message.sent', 'Message Sent'), ('message.opened', 'Message Opened'), ('message.clicked', 'Message Clicked'), ('message.replied', 'Message Replied'), ('message.bounced', 'Message Bounced'), ('message.unsubscribed', 'Message Unsubscribed'), ('message.complained', 'Message Complained'), ('campaign.status_changed', 'Campaign Status Changed')], max_length=40)),
                ('url', models.TextField(blank=True)),
                ('extra', models.JSONField(blank=True, default=dict)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('response_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField()),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('campaign', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaign')),
                ('recipient', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='campaigns.campaignrecipient')),
                ('endpoint', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhookendpoint')),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ['-id'],
                'indexes': [models.Index(fields=['endpoint', 'id'], name='webhook_delivery_endpoint'), models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='webhook_delivery_due')],
                'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'delivered', 'failed'])), name='webhook_delivery_status_valid')],
            },
        ),
        migrations.RunPython(events.install, events.uninstall),
        migrations.RunPython(register, unregister),
    ]
