"""The test suite's settings: fliptech.settings with DEBUG asked for, as `make run` asks
(DEBUG is off unless asked). Set before the settings are read; Celery workers and other
subprocesses a test starts inherit it with DJANGO_SETTINGS_MODULE."""

import os

os.environ.setdefault("DEBUG", "1")

from fliptech.settings import *  # noqa: F403
