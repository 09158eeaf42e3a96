"""A local fake of the OSRS Wiki prices API (run it: ``python -m osrs_twisted.wikifake``)."""

from osrs_twisted.wikifake.app import WikiFake
from osrs_twisted.wikifake.captures import Captures
from osrs_twisted.wikifake.faults import Fault

__all__ = ["Captures", "Fault", "WikiFake"]
