"""The server's garbage-collector tuning (measured: p99 of GET-by-PK from ~29 ms to ~18 ms)."""

import gc

from flux.rest.server import tune_garbage_collector


def test_tuning_freezes_startup_objects_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
