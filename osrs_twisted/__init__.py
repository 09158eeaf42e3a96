"""osrs-twisted: pvp-ml policy inference over TCP and an OSRS Grand Exchange HTTP API on one reactor."""

from osrs_twisted._version import __version__

__all__ = ["__version__"]
