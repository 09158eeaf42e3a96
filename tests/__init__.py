"""osrs-twisted's trial suite."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "osrs",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("osrs")
