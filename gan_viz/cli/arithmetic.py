"""gan-viz arithmetic: vector arithmetic on z (Fig. 7) and directions (Fig. 8), measured with the parser."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import arithmetic as A
from ..analyses import arithmetic_plots as AP
from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out
from ..subject import generate_images, load_z
from .latent_walk import add_parser_option, parser_for

NAME = "arithmetic"
HELP = "vector arithmetic on mean z of exemplars (paper Fig. 7) and concept directions (Fig. 8), measured"
EXAMPLES = ['gan-viz arithmetic --expr "A - B + C" --A 12,40,77 --B 3,9,21 --C 5,6,30 --out out/fig7',
            'gan-viz arithmetic --expr "A - B + C" --concepts A=window,B=no-window,C=no-window '
            '--direction "A - B" --out out/fig7_windows',
            'gan-viz arithmetic --z out/samples/z.npy --direction "A - B" --A 1,2,3,4 --B 5,6,7,8 --out out/fig8']
EVAL_SEED = 1_000_000  # fresh evaluation samples: seed EVAL_SEED + --seed (apart from the sheet)
DEFAULT_ALPHAS = "-1,-0.5,0,0.5,1,1.5,2"
SHEET_N, SHEET_N_CONCEPTS = 150, 1000


def add_arguments(p):
    add_common(p)
    p.add_argument("--expr", default=None, help='arithmetic on concepts A-H, e.g. "A - B + C" or "2*A - 0.5*B" (Fig. 7); '
                        'one starting with a minus needs \'=\': --expr="-A + B"')
    for n in A.NAMES:
        p.add_argument(f"--{n}", default=None, metavar="LIST", help=f"exemplars of concept {n}: sheet indices "
                       "like 12,40,77" if n == "A" else "the same for concept " + n)
    p.add_argument("--concepts", default=None, metavar="SPEC",
                   help="rooms: pick exemplars with the scene parser, e.g. A=window,B=no-window,C=no-window "
                        "(most window pixels / no window pixels in the sheet)")
    p.add_argument("--exemplars", type=int, default=3, help="exemplars per parser-picked concept (default 3)")
    sheet = p.add_mutually_exclusive_group()
    sheet.add_argument("--samples-seed", type=int, default=0,
                       help="the sample sheet is `gan-viz samples` (or generate) --n N --seed S (default seed 0)")
    sheet.add_argument("--z", default=None, metavar="FILE.npy", help="the sample sheet: rows of this z file")
    sheet.add_argument("--manifest", default=None, metavar="FILE.json",
                       help="the sample sheet: the manifest.json written by gan-viz samples (its z, by index)")
    p.add_argument("--samples-n", type=int, default=None,
                   help=f"samples on the sheet (default {SHEET_N}, as gan-viz samples; {SHEET_N_CONCEPTS} with "
                        "--concepts, so that rarer concepts find exemplars)")
    p.add_argument("--noise", type=float, default=0.25, help="uniform noise half-width added to Y (default 0.25)")
    p.add_argument("--noisy", type=int, default=8, help="noisy samples around Y (default 8)")
    p.add_argument("--direction", default=None, metavar="EXPR", help='a direction "A - B": mean z of A minus mean z of B')
    p.add_argument("--direction-exemplars", type=int, default=None,
                   help="exemplars per parser-picked group of the direction (default: --exemplars)")
    p.add_argument("--alphas", default=DEFAULT_ALPHAS, help=f"multiples of the direction walked; 0 and 1 are always added; a list starting "
                        f"with a minus needs '=': --alphas=-2,-1,1,2 (default {DEFAULT_ALPHAS})")
    p.add_argument("--walk-rows", type=int, default=4, help="samples walked along the direction (default 4)")
    p.add_argument("--eval-samples", type=int, default=200, help="samples measured along the direction (default 200)")
    p.add_argument("--controls", type=int, default=3, help="random directions of the same norm (default 3)")
    p.add_argument("--measure", default=None, metavar="CLASS",
                   help="rooms class to measure (default: the class of --concepts, else window)")
    p.add_argument("--min-fraction", type=float, default=A.PRESENT,
                   help=f"a parser-picked sample 'has' a class from this pixel fraction (default {A.PRESENT})")
    p.add_argument("--absent-fraction", type=float, default=A.ABSENT,
                   help=f"a parser-picked sample lacks a class below this pixel fraction (default {A.ABSENT})")
    add_parser_option(p)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def _validate(args) -> tuple:
    if args.samples_n is None:
        args.samples_n = SHEET_N_CONCEPTS if args.concepts else SHEET_N
    for opt, v, low in (("--exemplars", args.exemplars, 1), ("--samples-n", args.samples_n, 1),
                        ("--noisy", args.noisy, 0), ("--walk-rows", args.walk_rows, 1),
                        ("--eval-samples", args.eval_samples, 1), ("--controls", args.controls, 0),
                        ("--batch-size", args.batch_size, 1), ("--direction-exemplars", args.direction_exemplars or 1, 1)):
        if v < low:
            raise UserError(f"{opt} {v}: must be at least {low}")
    if not 0 <= args.noise < 10 or not 0 < args.min_fraction < 1 or not 0 < args.absent_fraction < 1:
        raise UserError("--noise must be in [0, 10), --min-fraction and --absent-fraction in (0, 1)")
    if args.expr is None and args.direction is None:
        raise UserError('nothing to do: give --expr "A - B + C" and/or --direction "A - B"')
    terms = A.parse_expr(args.expr) if args.expr is not None else ()
    dterms = A.parse_expr(args.direction) if args.direction is not None else ()
    if dterms and sorted(c for _, c in dterms) != [-1.0, 1.0]:
        raise UserError(f"--direction {args.direction!r} must be one concept minus another, like 'A - B'")
    try:
        alphas = sorted({float(a) for a in args.alphas.split(",")} | {0.0, 1.0})
    except ValueError:
        raise UserError(f"--alphas {args.alphas!r} is not a list of numbers like -1,0,0.5,1,2") from None
    return terms, dterms, alphas


def _sheet(args, cfg) -> tuple[torch.Tensor, str]:
    """The sample sheet's z (N, nz), and where it came from."""
    if args.z is not None:
        return load_z(args.z, cfg.nz), f"rows of {args.z}"
    if args.manifest is not None:
        from ..analyses.boxes import load_manifest

        z = load_manifest(args.manifest).z
        if z.shape[1] != cfg.nz:
            raise UserError(f"manifest {args.manifest} holds z of size {z.shape[1]}, this model needs {cfg.nz}; "
                            "pass the manifest written for this checkpoint")
        return torch.from_numpy(z), f"z of manifest {args.manifest}"
    return (A.sample_sheet(cfg, args.samples_n, args.samples_seed),
            f"gan-viz samples / generate --n {args.samples_n} --seed {args.samples_seed}")


def _sources(args, names: set, classes) -> tuple[dict, dict]:
    """Index lists and parser concepts per name, each name defined exactly once."""
    concepts = A.parse_concepts(args.concepts, classes) if args.concepts else {}
    lists = {n: getattr(args, n) for n in A.NAMES if getattr(args, n) is not None}
    for n in sorted(set(lists) | set(concepts)):
        if n not in names:
            raise UserError(f"concept {n} is defined but not used by --expr or --direction")
        if n in lists and n in concepts:
            raise UserError(f"concept {n} is given both by --{n} and by --concepts; keep one")
    for n in sorted(names):
        if n not in lists and n not in concepts:
            raise UserError(f"concept {n} has no exemplars: give --{n} 12,40,77 (sheet indices) or --concepts {n}=CLASS")
    return lists, concepts


def _select(order, lists, concepts, k, sheet_n, fractions, classes, args) -> dict:
    """Sheet indices per concept name; parser picks never reuse an index already taken."""
    chosen: dict[str, list[int]] = {}
    for n in order:
        if n in lists:
            chosen[n] = A.parse_indices(lists[n], n, sheet_n)
    for n in order:
        if n in concepts:
            cls, present = concepts[n]
            used = {i for v in chosen.values() for i in v}
            chosen[n] = A.pick_exemplars(fractions, classes.index(cls), present, k, used, args.min_fraction,
                                         f"{n}={'' if present else 'no-'}{cls}", args.absent_fraction)
    return chosen


def _targets(args, concepts, dterms, classes) -> tuple[list, str | None]:
    """Classes annotated in Fig. 7, and the class the direction is measured on."""
    if args.measure is not None and args.measure not in classes:
        raise UserError(f"--measure {args.measure!r} is not a class; the parser knows {', '.join(classes)}")
    named = list(dict.fromkeys(c for c, _ in concepts.values()))
    default = args.measure or (named[0] if named else ("window" if "window" in classes else classes[0]))
    dir_named = [concepts[n][0] for n, _ in dterms if n in concepts]
    measure = list(dict.fromkeys(([args.measure] if args.measure else []) + named)) or [default]
    return measure, (args.measure or (dir_named[0] if dir_named else default))


def run(args) -> int:
    terms, dterms, alphas = _validate(args)
    ck = load_checkpoint(args.ckpt)
    G, cfg, device = ck.require("G"), ck.config, device_of(args)
    sheet, sheet_note = _sheet(args, cfg)
    parser, note = parser_for(ck, args.parser, device, need=bool(args.concepts))
    classes = tuple(parser.classes) if parser is not None else ()
    lists, concepts = _sources(args, {n for n, _ in terms + dterms}, classes)
    fractions = None
    if concepts:
        fractions = parser.class_fractions(generate_images(G, sheet, args.batch_size, device)).numpy()
    pick = lambda tt, k: _select([n for n, _ in tt], lists, concepts, k, len(sheet), fractions, classes, args)  # noqa: E731
    chosen = pick(terms, args.exemplars) if terms else {}
    dchosen = pick(dterms, args.direction_exemplars or args.exemplars) if dterms else {}
    measure, target = _targets(args, concepts, dterms, classes) if parser is not None else ([], None)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=cfg.to_dict())
    summary = {"checkpoint": str(ck.path), "seed": args.seed, "measurements": note,
               "sheet": sheet_note,
               "sheet_size": len(sheet), "concepts": {n: f"{'' if p else 'no-'}{c}" for n, (c, p) in concepts.items()}}
    arrays = {"sheet_z": sheet.numpy(), "seed": args.seed}
    if fractions is not None:
        arrays["sheet_fractions"], arrays["class_names"] = fractions, list(classes)
    if terms:
        r = A.compute_arithmetic(G, terms, [sheet[chosen[n]] for n, _ in terms], args.noise, args.noisy, args.seed,
                                 parser, args.batch_size, device)
        save_figure(AP.plot_arithmetic(r, measure[:2]), out, "arithmetic")
        summary["arithmetic"] = _arith_summary(r, args.expr, chosen, measure, sheet)
        arrays.update(_arith_arrays(r, chosen))
    if dterms:
        (pn, _), (mn, _) = sorted(dterms, key=lambda t: -t[1])
        n_eval = max(args.walk_rows, args.eval_samples if parser is not None else 0)
        ev = sample_z(cfg, n_eval, torch.Generator().manual_seed(EVAL_SEED + args.seed))
        d = A.compute_direction(G, sheet[dchosen[pn]], sheet[dchosen[mn]], alphas, ev[:args.walk_rows], ev,
                                parser, args.controls, args.seed, args.batch_size, device)
        save_figure(AP.plot_direction(d, f"{pn} - {mn}"), out, "direction_walk")
        if d.fractions is not None:
            save_figure(AP.plot_direction_measure(d, target), out, "direction_measure")
        summary["direction"] = {"expr": f"{pn} - {mn}", "plus": dchosen[pn], "minus": dchosen[mn],
                                "eval_seed": EVAL_SEED + args.seed, "control_seed": args.seed,
                                **A.direction_summary(d, target)}
        if cfg.z_dist == "uniform":  # G was trained on the cube [-1, 1]^nz; d and the controls leave it alike
            summary["direction"]["z_outside_cube_at_alpha_1"] = float((np.abs(d.eval_z + d.d) > 1).mean())
        arrays.update(_dir_arrays(d, dchosen[pn], dchosen[mn]))
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **arrays)
    _print(summary)
    print(f"wrote {out}")
    return 0


def _arith_summary(r: A.ArithmeticResult, expr: str, chosen: dict, measure: list, sheet: torch.Tensor) -> dict:
    s = {"expr": expr, "terms": {n: float(c) for n, c in zip(r.names, r.coefs)},
         "exemplars": {n: chosen[n] for n in r.names}, "noise": r.noise, "noisy_samples": len(r.noisy_z),
         "noise_seed": r.seed, "y_norm": float(np.linalg.norm(r.y)),
         "sheet_mean_norm": float(sheet.norm(dim=1).mean()),
         "mean_z_norms": {n: float(np.linalg.norm(m)) for n, m in zip(r.names, r.mean_z)}}
    if r.fractions is not None:
        f, ci = r.fractions, {m: r.class_names.index(m) for m in measure}
        s["fractions"] = {m: {
            "exemplars": {n: float(f["exemplars"][r.owner == i, c].mean()) for i, n in enumerate(r.names)},
            "mean_images": {n: float(f["means"][i, c]) for i, n in enumerate(r.names)},
            "y": float(f["results"][0, c]), "noisy_mean": float(f["results"][1:, c].mean()) if len(r.noisy_z) else None,
            "noisy_share_with_class": float((f["results"][1:, c] >= A.PRESENT).mean()) if len(r.noisy_z) else None,
            "pixel_space": float(f["pixel"][0, c])} for m, c in ci.items()}
    return s


def _arith_arrays(r: A.ArithmeticResult, chosen: dict) -> dict:
    return {"terms": np.array(r.names), "coefs": r.coefs, "exemplar_index": np.concatenate([chosen[n] for n in r.names]),
            "exemplar_owner": r.owner, "exemplar_z": r.exemplar_z, "exemplar_images": r.exemplar_images,
            "mean_z": r.mean_z, "mean_images": r.mean_images, "y": r.y, "noisy_z": r.noisy_z,
            "result_images": r.result_images, "pixel_means": r.pixel_means, "pixel_result": r.pixel_result,
            "noise": r.noise, **({f"fractions_{k}": v for k, v in r.fractions.items()} if r.fractions else {})}


def _dir_arrays(d: A.DirectionResult, plus: list, minus: list) -> dict:
    a = {"direction": d.d, "plus_index": np.array(plus), "minus_index": np.array(minus), "alphas": d.alphas,
         "walk_bases": d.bases, "walk_images": d.walk_images, "eval_z": d.eval_z, "control_directions": d.controls}
    if d.fractions is not None:
        a["direction_fractions"], a["control_fractions"] = d.fractions.astype(np.float32), d.control_fractions.astype(np.float32)
    return a


def _print(s: dict) -> None:
    if "arithmetic" in s:
        a = s["arithmetic"]
        print(f"{a['expr']}: exemplars {a['exemplars']}; |Y| {a['y_norm']:.2f} (sheet mean |z| {a['sheet_mean_norm']:.2f})")
        for m, f in a.get("fractions", {}).items():
            print(f"  {m}: Y {f['y']:.3f}, noisy mean {f['noisy_mean']}, pixel space {f['pixel_space']:.3f}, "
                  f"concept means {({k: round(v, 3) for k, v in f['mean_images'].items()})}")
    if "direction" in s and s["direction"].get("measured"):
        d = s["direction"]
        print(f"direction {d['expr']} on {d['n_samples']} samples: {d['class']} {d['fraction_before']:.4f} -> "
              f"{d['fraction_after']:.4f}; random directions of the same norm -> {d['control_after']}")
