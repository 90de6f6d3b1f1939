"""The explorer's request errors, raised by the session and its views and answered by the server.

:class:`BadRequest` is a request the page (or a client) got wrong: the server answers it
with its HTTP status and ``{"error": message}``, and nothing was changed. :class:`Superseded`
is a request that a newer one of the same channel replaced while it waited: 409
``{"superseded": true}``.
"""

from __future__ import annotations


class BadRequest(Exception):
    """A request the page (or a client) got wrong: HTTP ``status`` with a one-line message."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(" ".join(str(message).split()))
        self.status = status


class Superseded(Exception):
    """A newer request of the same channel arrived while this one waited: it is dropped."""
