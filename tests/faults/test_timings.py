"""The fault tests prove recovery on a scaled clock (tests/faults/conftest.py): what each
recovery waits on is a product timing, so these sums are the recovery at the product's own
timings, which must leave room for the work itself inside the 60 s promise."""

from importlib import import_module

JANITOR_EVERY = import_module("campaigns.migrations.0002_sending_beat_schedule").EVERY_SECONDS
ROOM = 15  # seconds left for a worker to start and send once the rows are free again


def test_a_dead_workers_claims_come_back_well_within_60s(settings):
    # The lease expires, then the janitor's next run frees the claims.
    assert settings.SEND_LEASE_SECONDS + JANITOR_EVERY <= 60 - ROOM


def test_a_lost_task_chain_is_found_again_well_within_60s(settings):
    # Nothing started for SEND_STALL_SECONDS, then the janitor's next run queues the chain again.
    assert settings.SEND_STALL_SECONDS + JANITOR_EVERY <= 60 - ROOM
