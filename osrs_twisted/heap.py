"""Keeping the cyclic garbage collector's full passes short.

A full (generation 2) collection walks every tracked object while holding
the GIL, so it stalls the reactor for as long as it runs: about 90 ms in a
started server, whose heap holds a quarter of a million objects (modules,
torch, numpy, the models), nearly all of which live as long as the process.
:func:`freeze_long_lived` moves the objects alive now into the collector's
permanent generation, so later passes walk only what was made since.
"""

from __future__ import annotations

import gc


def freeze_long_lived(collect: bool = False) -> int:
    """Freeze every object alive now; with ``collect``, free the garbage
    first (a full pass: do it only where a stall does not matter, such as
    start-up). Returns how many objects are frozen in all."""
    if collect:
        gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
