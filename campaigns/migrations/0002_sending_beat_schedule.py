"""Register the sender's periodic tasks with django-celery-beat's DatabaseScheduler."""

from django.db import migrations

PERIODIC_TASKS = [
    ("campaigns: launch due scheduled campaigns", "campaigns.tasks.launch_due_campaigns"),
    ("campaigns: release expired sending leases", "campaigns.tasks.release_expired_leases"),
]
EVERY_SECONDS = 10


def register(apps, schema_editor=None, *, every_seconds=EVERY_SECONDS):
    """Idempotent: safe to run again (tests call it after flushing the database, the fault
    tests with a shorter period)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
    for name, task in PERIODIC_TASKS:
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True}
        )
    # Tell running beat processes the schedule changed.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unregister(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _ in PERIODIC_TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
