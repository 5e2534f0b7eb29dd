"""Follow-ups refused at send as first messages are (contract "Deliverability"): a `bounced`
status for their rows, the provider's id of each, and soft bounces counted once per step."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0017_segs_lead_engagement_rollup"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='recipientmessage',
            name='message_status_valid',
        ),
        migrations.RemoveConstraint(
            model_name='softbounce',
            name='soft_bounce_once_per_message',
        ),
        migrations.AddField(
            model_name='recipientmessage',
            name='provider_message_id',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='softbounce',
            name='step',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='recipientmessage',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('queued', 'Queued'), ('sent', 'Sent'), ('failed', 'Failed'), ('bounced', 'Bounced'), ('cancelled', 'Cancelled'), ('skipped', 'Skipped')], default='pending', max_length=20),
        ),
        migrations.AddIndex(
            model_name='recipientmessage',
            index=models.Index(condition=models.Q(('provider_message_id', ''), _negated=True), fields=['provider_message_id'], name='message_provider_message_id'),
        ),
        migrations.AddConstraint(
            model_name='recipientmessage',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'queued', 'sent', 'failed', 'bounced', 'cancelled', 'skipped'])), name='message_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='softbounce',
            constraint=models.UniqueConstraint(fields=('email', 'recipient_id', 'step'), name='soft_bounce_once_per_message'),
        ),
    ]
