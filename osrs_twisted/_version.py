"""
Provides osrs_twisted version information.
"""

# This file is auto-generated! Do not edit!
# Use `python -m incremental.update osrs_twisted` to change this file.

from incremental import Version

__version__ = Version("osrs_twisted", 0, 1, 0)
__all__ = ["__version__"]
