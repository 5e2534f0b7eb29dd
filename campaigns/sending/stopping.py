"""A warm stop: when the worker is asked to stop (SIGTERM — `honcho` on Ctrl-C under `make run`,
`docker stop`, systemd), the message in flight finishes and is recorded, the batch gives its
other claims back and its task returns; nothing is cut in the middle.

`campaigns.tasks` makes an idle pool process ignore SIGTERM, installs `on_sigterm` when a task
starts (billiard's own handler would exit at once), and calls `request` when the worker begins its warm shutdown; the
batch loop asks `requested()` before each message.
"""

import signal
import threading

from billiard.process import current_process

_stop = threading.Event()


def requested() -> bool:
    return _stop.is_set()


def request(*_args) -> None:
    _stop.set()


def on_sigterm(signum, frame) -> None:
    """SIGTERM in a pool process: stop after the current message. Further SIGTERMs change
    nothing (the worker's own shutdown sends more); a pool process that must die at once gets
    SIGKILL (billiard's hard time limit follows its SIGTERM with one, honcho after 5 s)."""
    _stop.set()


def ignore_until_a_task() -> None:
    """At a pool process's start: ignore SIGTERM (billiard keeps an ignored signal ignored),
    so an idle pool process waits for the worker to close the pool instead of dying."""
    if current_process().name != "MainProcess":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def install() -> None:
    """In a pool process, before a task: billiard sets its own SIGTERM handler (exit at once)
    after Celery's process start hooks, so this is done when a task starts. Never in the
    worker's main process (solo pool): SIGTERM there is Celery's warm shutdown, which calls
    `request` through `worker_shutting_down`."""
    if current_process().name == "MainProcess":
        return
    if signal.getsignal(signal.SIGTERM) is not on_sigterm:
        signal.signal(signal.SIGTERM, on_sigterm)


def reset() -> None:
    """Tests only: forget a request."""
    _stop.clear()
