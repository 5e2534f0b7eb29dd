"""`campaigns.pipeline.ahead`: the import's cleaner thread, one chunk ahead of the writer."""

import threading

import pytest

from campaigns.pipeline import ahead


def test_items_come_back_in_order_with_their_results():
    assert list(ahead(range(50), lambda n: n * n)) == [(n, n * n) for n in range(50)]


def test_an_error_in_the_step_is_raised_at_its_place_in_the_order():
    def step(n):
        if n == 3:
            raise ValueError("bad row")
        return n

    got = []
    with pytest.raises(ValueError, match="bad row"):
        for item, _ in ahead(range(10), step):
            got.append(item)
    assert got == [0, 1, 2]


def test_an_error_while_reading_the_items_reaches_the_caller():
    def items():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(ahead(items(), lambda n: n))


def test_the_step_runs_at_most_depth_items_ahead_and_stops_when_the_caller_stops():
    started = []

    def step(n):
        started.append(n)
        return n

    results = ahead(range(1000), step, depth=2)
    assert next(results) == (0, 0)
    results.close()  # the caller gave up (a database error in the writer, say)
    assert len(started) <= 4  # the one handed over, two queued, one waiting to be queued
    assert not any(t.name == "ahead" and t.is_alive() for t in threading.enumerate())
