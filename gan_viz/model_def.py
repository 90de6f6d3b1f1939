"""``--model-def FILE.py:FUNC``: the user's own code builds the subject.

``FUNC()`` (called with no arguments, or with the ``--ckpt`` path as its one argument
where it takes one) returns a :class:`~gan_viz.subject.Subject`, or a plain dict
``{"G": module, "D": module, "nz": int}`` (either network may be missing) with optional
``"z_dist"`` ("normal", the default, or "uniform"), ``"dataset"`` (the data domain, e.g.
"rooms"), ``"generate"`` (a callable z -> images) and ``"image_shape"`` (C, H, W).
It is the user's code, so it may load weights however it likes (also by unpickling the
user's own whole-module files); gan-viz itself never unpickles a ``--ckpt``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from .errors import UserError
from .subject import Provenance, Subject, file_sha256

KEYS = {"G", "D", "nz", "z_dist", "dataset", "generate", "image_shape"}


def _split(spec: str) -> tuple[Path, str]:
    return _split_as(spec, "--model-def")


def load_function(spec: str, what: str = "--model-def"):
    """The function ``FUNC`` of ``FILE.py:FUNC`` (the file is run as a module)."""
    path, func = _split_as(spec, what)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist; give FILE.py:FUNC with an existing file")
    name = f"gan_viz_user_{abs(hash(str(path.resolve())))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserError(f"{what} {path} cannot be imported as Python; give a .py file")
    module = importlib.util.module_from_spec(mod_spec)
    sys.path.insert(0, str(path.resolve().parent))  # the user's file may import its neighbours
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise UserError(f"{what} {path} raised {type(e).__name__} while importing: {_first(e)}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    fn = getattr(module, func, None)
    if not callable(fn):
        have = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                and getattr(v, "__module__", None) == name]
        raise UserError(f"{what} {path} has no function {func!r}"
                        + (f"; it defines {', '.join(have)}" if have else ""))
    return fn


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


def load_model_def(spec: str, ckpt: str | Path | None = None) -> Subject:
    """Call ``FUNC`` and turn what it returns into a subject (see the module docstring)."""
    fn = load_function(spec)
    path, func = _split(spec)
    try:
        takes_arg = any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                        for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        takes_arg = False
    try:
        obj = fn(str(ckpt) if ckpt else None) if takes_arg else fn()
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"--model-def {path}:{func} raised {type(e).__name__}: {_first(e)}") from None
    prov = Provenance(str(ckpt) if ckpt else str(path), "model-def",
                      file_sha256(ckpt) if ckpt and Path(ckpt).is_file() else file_sha256(path),
                      {"model_def": spec})
    if isinstance(obj, Subject):
        if obj.provenance.format == "modules":
            obj.provenance = prov
        return obj
    if not isinstance(obj, Mapping):
        raise UserError(f"--model-def {path}:{func} returned a {type(obj).__name__}; it must return a Subject "
                        "or a dict {'G': module, 'D': module, 'nz': int}")
    unknown = sorted(set(obj) - KEYS, key=str)
    if unknown:
        raise UserError(f"--model-def {path}:{func} returned unknown keys {unknown}; allowed: {sorted(KEYS)}")
    G, D = obj.get("G"), obj.get("D")
    for k, net in (("G", G), ("D", D)):
        if net is not None and not isinstance(net, nn.Module):
            raise UserError(f"--model-def {path}:{func} returned {k} as a {type(net).__name__}; "
                            "it must be a torch.nn.Module")
    if G is None and D is None and obj.get("generate") is None:
        raise UserError(f"--model-def {path}:{func} returned neither 'G' nor 'D'; return at least one network")
    if (G is not None or obj.get("generate") is not None) and "nz" not in obj:
        raise UserError(f"--model-def {path}:{func} returned a generator but no 'nz' (its latent size)")
    kw: dict[str, Any] = {"z_dist": obj.get("z_dist", "normal"), "domain": obj.get("dataset"),
                          "generate": obj.get("generate"), "provenance": prov}
    if obj.get("image_shape") is not None:
        kw["image_shape"] = tuple(obj["image_shape"])
    return Subject.from_modules(G, D, obj.get("nz"), **kw)
