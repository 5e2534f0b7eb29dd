"""The lead list's CSV import in headless Chromium: upload, the guessed mapping shown and
changed before it runs, the progress bar following a real Celery worker without a reload,
the report and the invalid rows' CSV."""

import pytest

from campaigns.models import Lead
from tests.admin.test_browser import log_in, page  # noqa: F401  (fixture)
from tests.sending.conftest import celery_procs, smtp_server, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

ROWS = 1500


def test_marketer_imports_a_csv_and_watches_the_report(page, live_server, celery_procs):  # noqa: F811
    text = "E-mail;Who;City;Plan\n" + "".join(f"m{i}@example.com;M{i};Austin;gold\n" for i in range(ROWS))
    text += "not-an-email;Bad;Austin;x\nm1@example.com;Again;Austin;x\n"
    log_in(page, live_server)

    page.goto(f"{live_server.url}/admin/campaigns/lead/")
    page.click("#ft-import-link")
    page.set_input_files("#ft-file", {"name": "leads.csv", "mimeType": "text/csv", "buffer": text.encode()})
    page.wait_for_selector("#ft-mapping-rows select")
    targets = page.eval_on_selector_all("select.ft-target", "els => els.map(e => e.value)")
    assert targets == ["email", "attributes.Who", "city", "attributes.Plan"]  # guessed from the headers
    page.select_option("select[data-header='Who']", "first_name")
    page.select_option("select[data-header='Plan']", "ignore")
    page.fill("#ft-tags", "spring")
    page.click("#ft-import-submit")

    page.wait_for_selector("#ft-import-progress")
    assert page.inner_text("#ft-import-status") == "queued"
    page.evaluate("window.ftNoReload = true")
    celery_procs.worker(concurrency=1, extra_env={"IMPORT_CHUNK_ROWS": "100"})

    seen = set()
    assert wait_until(
        lambda: (
            seen.add(page.eval_on_selector("#ft-import-progress", "e => e.value"))
            or page.inner_text("#ft-import-status") == "completed"
        ),
        timeout=120,
        interval=0.05,
    ), celery_procs.logs()
    # The bar as the page shows it now ("completed" may have been read right after an update
    # that also filled the bar, between the loop's two reads).
    seen.add(page.eval_on_selector("#ft-import-progress", "e => e.value"))
    assert page.evaluate("window.ftNoReload") is True  # updated in place
    assert {0, 100} <= seen  # from the empty bar to the full one
    assert page.inner_text("#ft-count-created") == str(ROWS)
    assert page.inner_text("#ft-count-invalid") == "1" and page.inner_text("#ft-count-duplicates") == "1"
    assert "not-an-email" in page.inner_text("#ft-error-rows") and str(ROWS + 2) in page.inner_text("#ft-error-rows")
    lead = Lead.objects.get(email="m1@example.com")
    assert (lead.first_name, lead.city, lead.tags, lead.attributes) == ("M1", "Austin", ["spring"], {})

    with page.expect_download() as download:
        page.click("#ft-errors-csv")
    content = open(download.value.path(), encoding="utf-8-sig").read()
    assert content.splitlines()[0] == "line,message,E-mail,Who,City,Plan" and "not-an-email" in content
