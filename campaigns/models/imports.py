"""CSV imports of leads and their rejected rows."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from .base import status_check


class LeadImportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def import_upload_to(instance, filename):
    return f"imports/{timezone.now():%Y/%m}/{secrets.token_hex(8)}.csv"


class LeadImport(models.Model):
    """A CSV file of leads being imported (campaigns.imports). The file is kept in Django's
    default storage (STORAGES["default"]) until the import ends, so the worker that runs
    it may be on another machine when that storage is shared (see docs/imports.md)."""

    Status = LeadImportStatus

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    file = models.FileField(upload_to=import_upload_to, max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name.")
    file_size = models.BigIntegerField(default=0)
    delimiter = models.CharField(max_length=1, default=",")
    headers = models.JSONField(default=list, blank=True)
    targets = models.JSONField(default=list, blank=True, help_text="The lead field of each column, in order.")
    tags = models.JSONField(default=list, blank=True, help_text="Tags added to every imported lead.")
    update_existing = models.BooleanField(default=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    # Rows imported whose address is risky (a role account or a disposable domain).
    risky = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="lead_imports"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The worker's heartbeat: bumped with every chunk it commits.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [status_check("lead_import_status_valid", "status", LeadImportStatus.choices)]

    def __str__(self):
        return f"import {self.pk} ({self.file_name})"


class LeadImportError(models.Model):
    """One invalid row of an import: its line (the header is line 1), why, and its cells."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField()
    email = models.CharField(max_length=254, blank=True)
    message = models.TextField()
    cells = models.JSONField(default=list)

    class Meta:
        ordering = ["lead_import", "line"]
        indexes = [models.Index(fields=["lead_import", "line"], name="lead_import_error_line")]

    def __str__(self):
        return f"line {self.line}: {self.message}"
