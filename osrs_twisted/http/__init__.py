"""The HTTP API: a Klein app, one module per resource, and a body-limited Site."""
