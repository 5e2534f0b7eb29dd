"""The embedded broker (`filesystem://`, `make run`'s default) made to notice a worker's warm
shutdown at once.

Kombu's filesystem transport cannot wake a waiting worker: Celery's loop for such transports
asks it for messages with a 2 s timeout, and kombu polls the folder until the timeout runs
out, so a worker told to stop (Ctrl-C under `make run`: honcho's SIGTERM, then SIGKILL after
5 s) noticed it only after up to 2 s, and with the pool's own shutdown it overran honcho's
5 s. Here the wait also ends as soon as Celery has been asked to stop, and the folder is
polled every `polling_interval` (0.2 s: a directory listing, and new tasks start sooner).
Redis, the production broker, wakes the worker by itself and is not touched.
"""

from queue import Empty
from time import monotonic, sleep

from kombu.transport import filesystem


def _stopping() -> bool:
    from celery.worker import state

    return state.should_stop is not None or state.should_terminate is not None


class Transport(filesystem.Transport):
    polling_interval = 0.2

    def drain_events(self, connection, timeout=None):
        started = monotonic()
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if _stopping() or (timeout is not None and monotonic() - started >= timeout):
                    raise TimeoutError() from None  # socket.timeout, which Celery's loop expects
                sleep(self.polling_interval)
