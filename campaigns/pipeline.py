"""`ahead`: run a pure-Python step over an iterable in a thread of its own, a few items
ahead of the caller, so the caller's database waits (psycopg releases the GIL while it
waits for the server) overlap with the step's work. The step must not use the database:
Django's connections belong to their thread."""

import queue
import threading

_END = object()


def ahead(items, step, *, depth: int = 2):
    """Yield `(item, step(item))` for each of `items`, in order, computed at most `depth`
    items ahead in a daemon thread. An exception in the thread (in `items` or `step`) is
    raised here at its place in the order; closing the generator stops the thread."""
    out = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                out.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if not put((item, step(item))):
                    return
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)
            return
        put(_END)

    thread = threading.Thread(target=work, name="ahead", daemon=True)
    thread.start()
    try:
        while True:
            value = out.get()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
