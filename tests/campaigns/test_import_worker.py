"""The import task run by a real Celery worker subprocess (the configured broker: Redis on
CI, the filesystem broker embedded), on the test database and the shared file storage."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Lead, LeadImport
from tests.sending.conftest import celery_procs, smtp_server, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_a_worker_runs_the_import_queued_by_the_upload(api, celery_procs):  # noqa: F811
    text = "email,first_name,Plan\n" + "".join(f"p{i}@example.com,P{i},gold\n" for i in range(500)) + "bad,x,y\n"
    celery_procs.worker(concurrency=1, extra_env={"IMPORT_CHUNK_ROWS": "100"})

    response = api.post(
        "/api/v1/leads/import", {"file": SimpleUploadedFile("w.csv", text.encode())}, format="multipart"
    )
    assert response.status_code == 202
    url = response.json()["url"]

    done = wait_until(lambda: api.get(url).json()["status"] in ("completed", "failed"), timeout=120, interval=0.3)
    report = api.get(url).json()
    assert done and report["status"] == "completed", (report, celery_procs.logs())
    assert (report["total_rows"], report["created"], report["invalid"]) == (501, 500, 1)
    assert report["errors"] == [{"line": 502, "email": "bad", "message": "email: not a valid email address."}]
    assert Lead.objects.count() == 500 and Lead.objects.get(email="p7@example.com").attributes == {"Plan": "gold"}
    assert not LeadImport.objects.get().file  # the stored file is removed once imported
