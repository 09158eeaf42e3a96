"""The operator's console: web pages under ``/ui/`` over the JSON API (docs/console.md).

``history`` samples the inference counters into a bounded ring, ``fleet``
classifies heartbeats (alive, late, gone) and estimates XP per hour, and
``pages`` serves the static pages with their security headers. Nothing here
runs on the TCP hot path.
"""
