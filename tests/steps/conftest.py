"""The sending tests' real parts (SMTP sink, worker and beat subprocesses), for the steps."""

import pytest

from tests.sending.conftest import (  # noqa: F401  (fixtures)
    celery_procs,
    smtp_server,
    smtp_settings,
)


@pytest.fixture(autouse=True)
def _fresh_step_caches():
    """Compiled follow-up templates are cached per process by ids SQLite may reuse."""
    from campaigns.sending import followup_messages

    followup_messages._compiled.clear()
