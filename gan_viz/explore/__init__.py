"""gan-viz explore: the audit in a browser (GANPaint for your own DCGAN, on a CPU, measured).

A local web app: a FastAPI server on uvicorn (:mod:`.server`) over one
:class:`~gan_viz.explore.session.Session` (the subject, its concept instrument, the
sample grid, the pinned samples and the current edit), and a page of plain
HTML/JS/CSS in ``static/`` (no build step, nothing fetched from the network).

Example:
    >>> from gan_viz.checkpoint import load_subject
    >>> from gan_viz.instruments import resolve_instrument
    >>> S = load_subject(None)                               # the bundled rooms DCGAN
    >>> session = Session(S, resolve_instrument(S))
    >>> app = create_app(session)                            # serve with uvicorn, or TestClient(app)
"""

from .errors import BadRequest
from .server import create_app
from .session import Session

__all__ = ["BadRequest", "Session", "create_app"]
