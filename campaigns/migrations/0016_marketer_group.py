"""The `Marketer` group: what running campaigns from the admin takes, and nothing else.

A marketer creates templates, leads (by hand or by CSV import), segments and campaigns, adds
recipients, launches/pauses/resumes (change on campaign), suppresses and unsuppresses
addresses, and reads the history (recipients, links, events: view only — history is never
edited or deleted by hand). No users, groups, API tokens, beat schedules or counter rows.

Permissions are made here for the apps concerned (Django makes them only after all
migrations, on post_migrate), so the group is complete on a fresh database too. Running it
again (or on a database where the group exists) adds what is missing and removes nothing.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketer"
ALL = ("add", "change", "delete", "view")
PERMISSIONS = {
    ("campaigns", "campaign"): ALL,  # delete is the soft delete
    ("campaigns", "emailtemplate"): ALL,
    ("campaigns", "lead"): ALL,
    ("campaigns", "segment"): ALL,
    ("campaigns", "campaignstep"): ALL,  # follow-ups
    ("campaigns", "leadimport"): ("add", "view"),
    ("campaigns", "leadimporterror"): ("view",),
    ("campaigns", "suppression"): ("add", "delete", "view"),  # unsuppress lifts manual ones only
    # Adding recipients (endpoint 7, the admin's "add recipients") writes recipient rows; the
    # history itself stays read-only in the admin whatever the permissions (HistoryAdmin).
    ("campaigns", "campaignrecipient"): ("add", "change", "view"),
    ("campaigns", "recipientmessage"): ("view",),
    ("campaigns", "campaignlink"): ("view",),
    ("campaigns", "campaigncounters"): ("view",),
    ("campaigns", "abtestdecision"): ("view",),
    ("campaigns", "softbounce"): ("view",),
    ("tracking", "emailtracking"): ("add", "view"),
    ("tracking", "reply"): ("view",),
}


def add_marketer_group(apps, schema_editor=None):
    """Also callable with the live app registry (tests whose database was flushed)."""
    for label in sorted({app for app, _ in PERMISSIONS}):
        config = apps.get_app_config(label)
        before = getattr(config, "models_module", None)
        config.models_module = before or True  # create_permissions skips configs without models
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = before
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = [f"{verb}_{model}" for (_, model), verbs in PERMISSIONS.items() for verb in verbs]
    perms = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in PERMISSIONS}, codename__in=wanted
    )
    group.permissions.add(*perms)


def remove_marketer_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0014_loop_steps"),
        ("tracking", "0005_loop_replies"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_marketer_group, remove_marketer_group)]
