"""The `Marketer` group (CONTRACT.md, Auth): what running campaigns takes and nothing more —
no users, tokens or beat schedules, and no deleting history (recipients, events,
suppressions, imports). Re-running it (or adding models later) only adds what is missing."""

from django.db import migrations

MARKETER = "Marketer"
PERMISSIONS = {
    "campaigns": {
        "lead": ["view", "add", "change", "delete"],
        "emailtemplate": ["view", "add", "change", "delete"],
        "campaign": ["view", "add", "change", "delete"],  # delete is the soft delete
        "campaignrecipient": ["view", "add", "change"],
        "segment": ["view", "add", "change", "delete"],
        "leadimport": ["view", "add"],
        "leadimporterror": ["view"],
        "suppression": ["view", "add"],
        "campaignlink": ["view"],
        "campaigncounters": ["view"],
    },
    "tracking": {"emailtracking": ["view", "add"]},
}


def codenames():
    for app_label, models in PERMISSIONS.items():
        for model, actions in models.items():
            for action in actions:
                yield app_label, f"{action}_{model}"


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are made after migrate (post_migrate); the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=MARKETER)
    wanted = set(codenames())
    perms = [
        p
        for p in Permission.objects.filter(content_type__app_label__in=PERMISSIONS).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    group.permissions.add(*perms)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=MARKETER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0010_segments"),
        ("tracking", "0003_lighter_event_inserts"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
