"""What every model of the app shares: id makers, the status check, timestamps."""

import secrets

from django.db import models


def new_campaign_id():
    return "camp_" + secrets.token_hex(6)


def new_token():
    """A recipient's tracking token: 192 random bits, URL-safe, unrelated to any id."""
    return secrets.token_urlsafe(24)


def status_check(name, field, choices):
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": [value for value, _ in choices]}), name=name)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True
