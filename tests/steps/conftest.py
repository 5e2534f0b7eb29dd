"""The sending tests' real parts (SMTP sink, worker and beat subprocesses), for the steps."""

from tests.sending.conftest import (  # noqa: F401  (fixtures)
    celery_procs,
    smtp_server,
    smtp_settings,
)
