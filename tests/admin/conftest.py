import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import UserFactory

MIGRATION = importlib.import_module("campaigns.migrations.0016_marketer_group")


@pytest.fixture
def marketer_group(db):
    """The `Marketer` group as the data migration makes it (made again when a transactional
    test's flush has emptied the tables since)."""
    if not Group.objects.filter(name=MIGRATION.GROUP).exists():
        MIGRATION.add_marketer_group(apps)
    return Group.objects.get(name=MIGRATION.GROUP)


@pytest.fixture
def marketer(marketer_group):
    """A staff user in the `Marketer` group, nothing more."""
    user = UserFactory(username="group-marketer", is_staff=True)
    user.groups.add(marketer_group)
    return user


@pytest.fixture
def marketer_client(marketer):
    client = Client()
    client.force_login(marketer)
    return client
