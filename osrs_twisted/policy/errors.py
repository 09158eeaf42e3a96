"""The two ways the policy engine refuses: a bad model file, or a bad request."""

from __future__ import annotations


class ModelLoadError(Exception):
    """A model file could not be loaded; the message names the file and the problem."""


class PolicyInputError(ValueError):
    """A request's fields cannot be served by a model.

    ``field`` is the request key at fault (``obs``, ``actionMasks``, ...) so
    the protocol layer can answer ``bad_request`` with a precise message.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message
