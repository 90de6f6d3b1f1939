"""gan-viz explore: the audit in a browser (units, ablations, painting, walks), live and measured."""

from __future__ import annotations

import sys

from ..errors import UserError
from .common import add_ckpt, add_segmenter, subject_of

NAME = "explore"
HELP = "open the audit in a browser: browse units, ablate and paint concepts, walk the latent space (local server)"
EXAMPLES = ["gan-viz explore", "gan-viz explore --port 9000",
            "gan-viz explore --ckpt netG_epoch_24.pth --segmenter rooms",
            "gan-viz explore --directions out/directions",
            "gan-viz explore --model-def mymodel.py:build --segmenter seg.py:build --host 0.0.0.0"]


def add_arguments(p):
    add_ckpt(p)
    add_segmenter(p)
    p.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample grid (default: 0)")
    p.add_argument("--samples", type=int, default=16, help="samples in the first grid (default: 16)")
    p.add_argument("--pins", type=int, default=8, help="samples of the first grid pinned at the start (default: 8)")
    p.add_argument("--scan", type=int, default=256,
                   help="generated samples the unit tables and top images are computed on (default: 256)")
    p.add_argument("--directions", metavar="DIR_OR_FILE.npz", default=None,
                   help="a gan-viz directions run (its folder or arrays.npz): a slider per direction on the "
                        "pinned samples, with the judge's class fractions")


def run(args) -> int:
    try:
        from ..explore.server import bind, serve, url_of
        from ..explore.session import MAX_GRID, MAX_PINS, Session
    except ImportError as e:
        raise UserError(f"gan-viz explore needs fastapi and uvicorn ({e}); pip install fastapi uvicorn") from None
    from ..instruments import absent_reason, resolve_instrument

    if not 1 <= args.samples <= MAX_GRID:
        raise UserError(f"--samples {args.samples}: a grid holds 1 to {MAX_GRID} samples")
    if not 0 <= args.pins <= min(args.samples, MAX_PINS):
        raise UserError(f"--pins {args.pins}: pin 0 to {min(args.samples, MAX_PINS)} of the first grid")
    sock = bind(args.host, args.port)  # before loading anything: a taken port fails at once
    try:
        S = subject_of(args)
        inst = resolve_instrument(S, args.segmenter)
        reason = absent_reason(S, args.segmenter) if inst is None else None
        dirs = _directions(S, args, inst, reason)
        session = Session(S, inst, reason, seed=args.seed, n=args.samples, pins=args.pins, scan=args.scan,
                          directions=dirs)
        url = url_of(sock)
        measure = inst.line if inst is not None else f"instrument: none ({reason})"
        print(f"gan-viz explore: {S.where}; {measure}", flush=True)
        print(f"gan-viz explore: open {url} (Ctrl-C stops)", flush=True)
        serve(session, sock)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    sys.stdout.write("gan-viz explore: stopped\n")
    return 0


def _directions(S, args, inst, reason):
    """The ``--directions`` run loaded for S (None without the option), judged by the held-out instrument
    (the second rooms parser for a rooms model), else by the explorer's instrument."""
    if args.directions is None:
        return None
    from ..explore.directions import load_directions
    from ..instruments import held_out_instrument

    if not S.has_G:
        raise UserError(f"--directions {args.directions}: {S.where} has no generator to move samples with")
    judge = held_out_instrument(S, args.segmenter) if inst is not None else None
    return load_directions(args.directions, S.nz, S.z_dist, judge or inst, reason)
