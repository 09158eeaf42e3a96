"""The collector's permanent generation holds what lives as long as the server."""

from __future__ import annotations

import gc

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.heap import freeze_long_lived


class FreezeLongLivedTests(SynchronousTestCase):
    def test_objects_alive_now_are_frozen(self) -> None:
        before = gc.get_freeze_count()
        kept = [[index] for index in range(1000)]  # tracked containers, alive across the call
        frozen = freeze_long_lived()
        self.assertGreaterEqual(frozen, before + len(kept))
        self.assertEqual(frozen, gc.get_freeze_count())

    def test_collect_frees_cyclic_garbage_before_freezing(self) -> None:
        freeze_long_lived()
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        before = gc.get_freeze_count()
        frozen = freeze_long_lived(collect=True)
        self.assertEqual(frozen, before)  # the cycle was freed, not frozen
