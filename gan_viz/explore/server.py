"""The explorer's HTTP API (FastAPI) and the page it serves, on uvicorn.

Endpoints (JSON unless said; a bad request is a 4xx ``{"error": "..."}`` naming the
problem, and the state is unchanged after it):

- ``GET /`` the page; ``GET /static/...`` its script and style (shipped in the package).
- ``GET /api/info`` the subject, instrument, layers, limits, defaults and state.
- ``POST /api/samples`` ``{seed, n}``: a new grid. ``GET /api/samples/z.npy`` its z.
- ``POST /api/pins`` ``{grid: i}`` or ``{z: [...]}``; ``DELETE /api/pins/{id}``;
  ``GET /api/pins/z.npy`` (all pinned) and ``GET /api/pins/{id}/z.npy``.
- ``GET /api/units?layer=G.relu3``: every unit's measures and dissection label.
- ``GET /api/unit?layer=&unit=``: one unit's top images, activation maps, guided backprop (D).
- ``GET /api/concept?layer=&concept=&rank=iou|causal&k=``: a concept's units.
- ``POST /api/edit`` ``{layer, ablate, units, strokes: {pin id: {remove, insert}}, concept,
  measure, seq}``: the new edit; answers the pinned samples before/after and the measure.
- ``GET /api/render``: the same for the current edit.
- ``POST /api/walk`` ``{a, b, t, interp, seq}``; ``POST /api/arithmetic`` ``{a, b, c, seq}``.
- ``GET /api/directions``: the loaded latent directions (key, concept, method, slope, above_random),
  the walk's end t and the judge; ``POST /api/direction`` ``{key, alpha, seq}``: the pinned samples
  moved by alpha along it, with the judge's class fractions.

Requests of the ``edit``, ``walk`` and ``direction`` channels that a newer one of the same channel
supersedes while they wait are dropped: 409 ``{"superseded": true}``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from gan_viz.errors import UserError

from . import directions, latent
from .errors import BadRequest, Superseded
from .session import MAX_GRID, MAX_PINS, Session

STATIC = Path(__file__).resolve().parent / "static"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplesBody(_Body):
    seed: int = 0
    n: int = 16


class PinBody(_Body):
    grid: int | None = None
    z: list[float] | None = None


class Stroke(_Body):
    remove: list[Any] | None = None
    insert: list[Any] | None = None


class EditBody(_Body):
    layer: str | None = None
    ablate: list[int] = []
    units: list[int] = []
    strokes: dict[str, Stroke] = {}
    concept: str | None = None
    measure: bool = True
    seq: int | None = None


class WalkBody(_Body):
    a: int
    b: int
    t: float = 0.5
    interp: str = "slerp"
    seq: int | None = None


class DirectionBody(_Body):
    key: str
    alpha: float = 0.0
    seq: int | None = None


class ArithmeticBody(_Body):
    a: list[int]
    b: list[int]
    c: list[int]
    seq: int | None = None


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split()), **extra}, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errs = exc.errors()
    for e in errs:
        if e.get("type") == "json_invalid":
            return 400, f"malformed JSON: {e.get('ctx', {}).get('error', e.get('msg'))}"
    e = errs[0] if errs else {}
    where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")) or "body"
    if e.get("type") == "model_attributes_type":
        return 400, "the request body must be a JSON object"
    if e.get("type") == "extra_forbidden":
        return 422, f"unknown field {where!r}"
    return 422, f"{where}: {e.get('msg', 'invalid')}"


def create_app(session: Session) -> FastAPI:
    """The FastAPI app of one explorer session."""
    app = FastAPI(title="gan-viz explore", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.session = session
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError):
        return _error(*_validation_message(exc))

    @app.exception_handler(BadRequest)
    async def _bad(_req: Request, exc: BadRequest):
        return _error(exc.status, str(exc))

    @app.exception_handler(UserError)
    async def _user(_req: Request, exc: UserError):
        return _error(422, str(exc))

    @app.exception_handler(Superseded)
    async def _superseded(_req: Request, exc: Superseded):
        return _error(409, f"superseded by a newer {exc} request", superseded=True)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "error")

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception):  # no traceback reaches the page
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return _error(500, f"internal error: {type(exc).__name__}: {msg}")

    for register in (_page_routes, _sample_routes, _unit_routes, _edit_routes):
        register(app, session)
    return app


def _npy(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _page_routes(app: FastAPI, s: Session) -> None:
    """The page, the session's description (``/api/info``) and its state."""

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/info")
    def info():
        inst = s.inst
        return {"subject": s.S.describe(), "where": s.S.where, "has_G": s.S.has_G, "has_D": s.S.D is not None,
                "image_shape": list(s.S.image_shape), "nz": s.S.nz,
                "instrument": None if inst is None else {"name": inst.name, "classes": list(inst.class_names),
                                                          "forced": inst.forced, "note": inst.note},
                "absent": s.reason, "layers": s.units.layers(), "default_layer": None if s.layer is None
                else f"G.{s.layer}", "limits": {"grid": MAX_GRID, "pins": MAX_PINS, "scan": s.units.n},
                "state": s.state()}

    @app.get("/api/state")
    def state():
        return s.state()


def _sample_routes(app: FastAPI, s: Session) -> None:
    """The sample grid, the pinned samples, and their z as .npy downloads."""

    @app.post("/api/samples")
    def samples(body: SamplesBody):
        return s.new_grid(body.seed, body.n)

    @app.get("/api/samples/z.npy")
    def grid_z():
        return _npy(s.npy(s.grid_z), f"z_seed{s.grid_seed}_n{len(s.grid_z)}.npy")

    @app.post("/api/pins")
    def add_pin(body: PinBody):
        if (body.grid is None) == (body.z is None):
            raise BadRequest("give either grid (an index into the grid) or z (a latent code)")
        p = s.pin_grid(body.grid) if body.grid is not None else s.pin_z(body.z)
        return {"pin": {"id": p.id, "origin": p.origin}, "state": s.state()}

    @app.delete("/api/pins/{pin_id}")
    def del_pin(pin_id: int):
        s.unpin(pin_id)
        return {"state": s.state()}

    @app.get("/api/pins/z.npy")
    def pins_z():
        return _npy(s.npy(s.pinned_z()), "z_pinned.npy")

    @app.get("/api/pins/{pin_id}/z.npy")
    def pin_z(pin_id: int):
        return _npy(s.npy(s.pin(pin_id).z[None]), f"z_pin{pin_id}.npy")


def _unit_routes(app: FastAPI, s: Session) -> None:
    """Browsing units: a layer's table, one unit's images and maps, a concept's units."""

    @app.get("/api/units")
    def units(layer: str):
        return s.units.public_table(layer)

    @app.get("/api/unit")
    def unit(layer: str, unit: int):
        return s.units.detail(layer, unit)

    @app.get("/api/concept")
    def concept(layer: str, concept: str, rank: str = "iou", k: int | None = None):
        return s.units.concept_units(layer, concept, rank, k)


def _edit_routes(app: FastAPI, s: Session) -> None:
    """The edit and its render, the walk and the arithmetic (a newer edit or walk drops one that waits)."""

    @app.post("/api/edit")
    def post_edit(body: EditBody):
        ticket = s.ticket("edit")  # on arrival: a newer edit drops this one while it waits
        with s.compute_lock:
            s.check_current("edit", ticket)
            s.set_edit(s.parse_edit(body.model_dump()))  # a 4xx from parse_edit changes nothing
            out = s.render(body.measure)
        return {**out, "seq": body.seq}

    @app.get("/api/render")
    def render(measure: bool = True):
        return s.render(measure)

    @app.post("/api/walk")
    def post_walk(body: WalkBody):
        ticket = s.ticket("walk")
        with s.compute_lock:
            s.check_current("walk", ticket)
            out = latent.walk(s, body.a, body.b, body.t, body.interp)
        return {**out, "seq": body.seq}

    @app.post("/api/arithmetic")
    def post_arithmetic(body: ArithmeticBody):
        return {**latent.arithmetic(s, {"a": body.a, "b": body.b, "c": body.c}), "seq": body.seq}

    @app.get("/api/directions")
    def get_directions():
        if s.directions is None:
            return {"directions": [], "t": None, "judge": None,
                    "absent": "no directions loaded (gan-viz explore --directions DIR, a gan-viz directions run)"}
        return s.directions.public()

    @app.post("/api/direction")
    def post_direction(body: DirectionBody):
        ticket = s.ticket("direction")
        with s.compute_lock:
            s.check_current("direction", ticket)
            out = directions.move(s, body.key, body.alpha)
        return {**out, "seq": body.seq}


# --- running it ------------------------------------------------------------------------------

def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line UserError when the port is taken."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: a port is 0-65535 (0 picks a free one)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    family = infos[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise UserError(f"port {port} on {host} is taken (another gan-viz explore?); stop it or pass "
                            "--port N (--port 0 picks a free one)") from None
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(session: Session, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve the app on the bound socket until Ctrl-C (or SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(create_app(session), log_level=log_level, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
