"""twistd plugin: ``twistd osrs`` / ``twist osrs``."""

from twisted.application.service import ServiceMaker

osrs = ServiceMaker(
    "osrs",
    "osrs_twisted.tap",
    "pvp-ml policy inference over TCP and the OSRS items/prices HTTP API on one reactor.",
    "osrs",
)
