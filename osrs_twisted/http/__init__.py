"""The HTTP API: one Klein app per API object (``routing.py``), one module per
route group, every JSON body in ``render.py``, and a body-limited Site."""
