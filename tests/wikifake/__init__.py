"""A local fake of the OSRS Wiki prices API (run it: ``python -m tests.wikifake``)."""

from tests.wikifake.app import WikiFake
from tests.wikifake.captures import Captures
from tests.wikifake.faults import Fault

__all__ = ["Captures", "Fault", "WikiFake"]
