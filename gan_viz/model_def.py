"""``--model-def FILE.py:FUNC``: the user's own code builds the subject.

``FUNC()`` (called with no arguments, or with the ``--ckpt`` path as its one argument
where it takes one) returns a :class:`~gan_viz.subject.Subject`, or a plain dict
``{"G": module, "D": module, "nz": int}`` (either network may be missing) with optional
``"z_dist"`` ("normal", the default, or "uniform"), ``"dataset"`` (the data domain, e.g.
"rooms"), ``"generate"`` (a callable z -> images) and ``"image_shape"`` (C, H, W).
It is the user's code, so it may load weights however it likes (also by unpickling the
user's own whole-module files); gan-viz itself never unpickles a ``--ckpt``.

The three-line file for a whole pickled generator (``torch.save(netG, "netG.pth")``)::

    import torch
    def build():
        return {"G": torch.load("netG.pth", weights_only=False), "nz": 100}

Every problem is one line naming it: the file does not exist, FUNC is missing, FUNC
raises, or it returns the wrong thing (what it returned is said).
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

from torch import nn

from .config import Z_DISTS
from .errors import UserError
from .subject import Provenance, Subject, file_sha256

KEYS = {"G", "D", "nz", "z_dist", "dataset", "generate", "image_shape"}
SHAPE = "a Subject or a dict {'G': module, 'D': module, 'nz': int} (either network may be missing)"


def _split_as(spec: str, what: str) -> tuple[Path, str]:
    if ":" not in spec:
        raise UserError(f"{what} {spec!r} must be FILE.py:FUNC (e.g. mymodel.py:build)")
    file, func = spec.rsplit(":", 1)
    if not func.isidentifier():
        raise UserError(f"{what} {spec!r}: {func!r} is not a function name; give FILE.py:FUNC")
    return Path(file), func


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _brief(obj: Any) -> str:
    text = " ".join(repr(obj).split())
    return text if len(text) <= 60 else text[:57] + "..."


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    """The user's folder on sys.path (their file may import its neighbours, or unpickle their classes)."""
    entry = str(folder.resolve())
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)


def load_function(spec: str, what: str = "--model-def"):
    """The function ``FUNC`` of ``FILE.py:FUNC`` (the file is run as a module)."""
    path, func = _split_as(spec, what)
    if not path.exists():
        raise UserError(f"{what} file {path} does not exist; give FILE.py:FUNC with an existing file")
    if not path.is_file():
        raise UserError(f"{what} {path} is not a file; give FILE.py:FUNC with a Python file")
    name = f"gan_viz_user_{abs(hash(str(path.resolve())))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserError(f"{what} {path} cannot be imported as Python; give a .py file")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        with _on_path(path.parent):
            mod_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"{what} {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    except SystemExit as e:
        raise UserError(f"{what} {path} called exit({e.code}) while importing") from None
    except Exception as e:
        raise UserError(f"{what} {path} raised {type(e).__name__} while importing: {_first(e)}") from None
    fn = getattr(module, func, None)
    if fn is None or not callable(fn):
        have = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                and getattr(v, "__module__", None) == name]
        if fn is not None:
            raise UserError(f"{what} {path}: {func!r} is not a function (it is {type(fn).__name__} {_brief(fn)})")
        raise UserError(f"{what} {path} has no function {func!r}"
                        + (f"; it defines {', '.join(have)}" if have else "; it defines no function"))
    return fn


def _call(fn, where: str, folder: Path, ckpt: str | Path | None) -> Any:
    try:
        takes_arg = any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                        for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        takes_arg = False
    try:
        with _on_path(folder):
            return fn(str(ckpt) if ckpt else None) if takes_arg else fn()
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    except SystemExit as e:
        raise UserError(f"{where} called exit({e.code}) instead of returning {SHAPE}") from None
    except Exception as e:
        raise UserError(f"{where} raised {type(e).__name__}: {_first(e)}") from None


def load_model_def(spec: str, ckpt: str | Path | None = None) -> Subject:
    """Call ``FUNC`` and turn what it returns into a subject (see the module docstring)."""
    fn = load_function(spec)
    path, func = _split_as(spec, "--model-def")
    where = f"--model-def {path}:{func}"
    obj = _call(fn, where, path.parent, ckpt)
    prov = Provenance(str(ckpt) if ckpt else str(path), "model-def",
                      file_sha256(ckpt) if ckpt and Path(ckpt).is_file() else file_sha256(path),
                      {"model_def": spec})
    if isinstance(obj, Subject):
        if obj.provenance.format == "modules":
            obj.provenance = prov
        return obj
    kw = _subject_kwargs(obj, where)
    try:
        return Subject.from_modules(kw.pop("G"), kw.pop("D"), kw.pop("nz"), provenance=prov, **kw)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def _subject_kwargs(obj: Any, where: str) -> dict:
    """Check the dict FUNC returned, key by key; the keyword arguments of its subject."""
    if isinstance(obj, nn.Module):
        raise UserError(f"{where} returned a bare {type(obj).__name__} module; return "
                        f"{{'G': module, 'nz': int}} (or 'D') so gan-viz knows which network it is")
    if not isinstance(obj, Mapping):
        what = "None (no return statement?)" if obj is None else f"{type(obj).__name__} {_brief(obj)}"
        raise UserError(f"{where} returned {what}; it must return {SHAPE}")
    unknown = sorted((k for k in obj if k not in KEYS), key=str)
    if unknown:
        raise UserError(f"{where} returned unknown keys {unknown}; allowed: {sorted(KEYS)}")
    G, D, nz = obj.get("G"), obj.get("D"), obj.get("nz")
    for k, net in (("G", G), ("D", D)):
        if isinstance(net, Mapping):
            keys = ", ".join(map(str, list(net)[:3])) + (", ..." if len(net) > 3 else "")
            raise UserError(f"{where} returned {k} as a {type(net).__name__} (keys {keys}), not a torch.nn.Module; "
                            "build the module, load_state_dict() it, and return the module")
        if net is not None and not isinstance(net, nn.Module):
            raise UserError(f"{where} returned {k} as {type(net).__name__} {_brief(net)}; it must be a "
                            "torch.nn.Module")
    gen = obj.get("generate")
    if gen is not None and not callable(gen):
        raise UserError(f"{where} returned 'generate' as a {type(gen).__name__}; it must be a callable z -> images")
    if G is None and D is None and gen is None:
        raise UserError(f"{where} returned neither 'G' nor 'D'; return at least one network")
    if (G is not None or gen is not None) and nz is None:
        raise UserError(f"{where} returned a generator but no 'nz' (its latent size); add 'nz': int")
    if nz is not None and (not isinstance(nz, int) or isinstance(nz, bool) or nz < 1):
        raise UserError(f"{where} returned nz={_brief(nz)}; it must be a positive integer (the latent size)")
    z_dist = obj.get("z_dist", "normal")
    if z_dist not in Z_DISTS:
        raise UserError(f"{where} returned z_dist={_brief(z_dist)}; choose one of {', '.join(Z_DISTS)}")
    dataset = obj.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise UserError(f"{where} returned dataset={_brief(dataset)}; it must be a dataset name such as 'rooms'")
    kw: dict[str, Any] = {"G": G, "D": D, "nz": nz, "z_dist": z_dist, "domain": dataset, "generate": gen}
    shape = obj.get("image_shape")
    if shape is not None:
        if not (isinstance(shape, (tuple, list)) and len(shape) == 3
                and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)):
            raise UserError(f"{where} returned image_shape={_brief(shape)}; it must be (C, H, W), positive ints")
        kw["image_shape"] = tuple(shape)
    return kw
