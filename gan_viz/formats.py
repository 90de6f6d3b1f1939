"""State dicts from anywhere, read by content: wrappers, DataParallel prefixes, safetensors,
and the two DCGAN layouts they may hold.

A file holds the weights of one or two networks in one of these ways:

- a bare state dict (``torch.save(netG.state_dict(), "netG_epoch_24.pth")``);
- a wrapper ``{"netG": sd, "netD": sd, "epoch": 5}`` (also ``generator`` / ``G`` / ``gen``
  and ``discriminator`` / ``D`` / ``disc``, with or without a ``_state_dict`` suffix);
- ``{"state_dict": ...}`` / ``{"model_state_dict": ...}`` / ``{"model": ...}`` around either;
- flat keys with a network prefix (``netG.main.0.weight``), e.g. in a ``.safetensors`` file.

``module.`` (nn.DataParallel / DDP) and ``_orig_mod.`` (torch.compile) key components are
dropped. Plain entries beside the weights (``epoch``, ``iteration``, ...) are kept as
metadata. Each network must be a DCGAN in the PyTorch examples layout (``main.<i>.*``) or
gan-viz's own (``conv1.*``, ``bn1.*``, ...), with or without convolution biases and
``num_batches_tracked``. Its config is inferred from the tensor shapes, and every tensor is
checked against the layout before loading: a misfit names the first key that does not fit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .config import ModelConfig
from .errors import UserError
from .models import build_discriminator, build_generator

G_NAMES = frozenset({"netg", "generator", "g", "gen", "net_g", "model_g", "modelg"})
D_NAMES = frozenset({"netd", "discriminator", "d", "disc", "net_d", "model_d", "modeld"})
WRAPPERS = ("state_dict", "model_state_dict", "model")
STEP_KEYS = ("step", "global_step", "iteration", "iter", "iters", "niter", "steps")
_DROP = frozenset({"module", "_orig_mod"})  # DataParallel / DDP / torch.compile wrappers
_SUFFIXES = ("_state_dict", "_state", "_sd", "_weights")
_EXAMPLES = re.compile(r"main\.(\d+)\.(\w+)$")
_GAN_VIZ = re.compile(r"(conv|bn)(\d+)\.(\w+)$")
HINT = "for another architecture use --model-def FILE.py:FUNC (see the README, 'Your own model')"


def role_of(name: Any) -> str | None:
    """'G', 'D' or None: what a wrapper key such as ``netG`` / ``discriminator_state_dict`` holds."""
    n = str(name).casefold()
    for s in _SUFFIXES:
        if n.endswith(s):
            n = n[: -len(s)]
            break
    return "G" if n in G_NAMES else "D" if n in D_NAMES else None


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 500)


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


@dataclass
class NetState:
    """One network's weights: gan-viz layer names -> tensors, and how the file named each."""

    state: dict[str, torch.Tensor]
    shown: dict[str, str]  # gan-viz key -> the key as the file has it (for messages)
    layout: str  # "pytorch-examples" or "gan-viz"
    where: str  # the file


@dataclass
class Nets:
    """What a file holds: "G" and/or "D" (or "?" before the layout tells which), metadata."""

    states: dict[str, NetState]
    meta: dict = field(default_factory=dict)
    wrapped: bool = False  # False: a bare state dict, as the PyTorch examples write

    @property
    def layout(self) -> str:
        return "pytorch-examples" if all(s.layout == "pytorch-examples" for s in self.states.values()) \
            else "gan-viz"


# --- finding the state dicts ------------------------------------------------------------

def networks(obj: Mapping, where: str) -> Nets:
    """The networks in an unpickled mapping (see the module docstring), in gan-viz layer names."""
    meta: dict = {}
    found, wrapped = _find(obj, "", meta)
    if not found:
        keys = ", ".join(map(str, list(obj)[:5])) or "none"
        raise UserError(f"{where} is neither a gan-viz checkpoint nor a state dict: it holds no tensors "
                        f"(keys: {keys}); pass a file written by gan-viz or torch.save(net.state_dict())")
    states = {}
    for role, entries in found.items():
        if not entries:
            raise UserError(f"{where}: the {_what(role)} entry holds no tensors; it must be a state dict")
        s = _rename(entries, where)
        states[role if role != "?" else ("G" if any(k.startswith("bn1.") for k in s.state) else "D")] = s
    return Nets(states, meta, wrapped)


def _find(obj: Mapping, prefix: str, meta: dict) -> tuple[dict[str, list], bool]:
    """{role: [(key, shown, tensor)]} and whether anything was unwrapped."""
    subs = {k: v for k, v in obj.items() if isinstance(v, Mapping)}
    meta.update({str(k): v for k, v in obj.items() if _plain(v) and str(k) not in meta})
    roles = {}
    for k, v in subs.items():
        r = role_of(k)
        if r is not None and r not in roles:
            roles[r] = _entries(v, _show(prefix, k), meta)
    if roles:
        return roles, True
    for w in WRAPPERS:
        if w in subs:
            return _find(subs[w], _show(prefix, w), meta)[0], True
    entries = _entries(obj, prefix, meta)
    if not entries:
        return {}, False
    first = [e[0].split(".", 1) for e in entries]
    if all(len(p) == 2 and role_of(p[0]) for p in first):  # flat pair: netG.main.0.weight, netD.main...
        out: dict[str, list] = {}
        for (key, shown, t), (head, rest) in zip(entries, first):
            out.setdefault(role_of(head), []).append((rest, shown, t))
        return out, True
    return {"?": entries}, False


def _entries(obj: Mapping, prefix: str, meta: dict) -> list[tuple[str, str, torch.Tensor]]:
    """The tensors of one state dict (unwrapping {"state_dict": ...}), ``module.`` dropped."""
    out = [(".".join(p for p in str(k).split(".") if p not in _DROP), _show(prefix, k), v)
           for k, v in obj.items() if isinstance(v, torch.Tensor)]
    if out:
        return out
    for w in WRAPPERS:
        if isinstance(obj.get(w), Mapping):
            meta.update({str(k): v for k, v in obj.items() if _plain(v) and str(k) not in meta})
            return _entries(obj[w], _show(prefix, w), meta)
    return []


def _show(prefix: str, key: Any) -> str:
    return f"{prefix}[{str(key)!r}]" if prefix else (f"[{str(key)!r}]" if not isinstance(key, str) else key)


def _what(role: str) -> str:
    return {"G": "generator", "D": "discriminator"}.get(role, "network")


# --- layouts ------------------------------------------------------------------------------

def _rename(entries: list, where: str) -> NetState:
    """Map the file's keys onto gan-viz layer names (PyTorch examples ``main.<i>`` by order)."""
    if any(_EXAMPLES.match(e[0]) for e in entries):
        odd = next((e for e in entries if not _EXAMPLES.match(e[0])), None)
        if odd is not None:
            raise UserError(f"{where}: key {odd[1]} {_shape(odd[2])} is not part of the PyTorch examples DCGAN "
                            f"layout (main.<i>.*, as its other keys are); {HINT}")
        return _rename_examples(entries, where)
    odd = next((e for e in entries if not _GAN_VIZ.match(e[0])), None)
    if odd is not None:
        raise UserError(f"{where} is neither a gan-viz checkpoint nor a state dict of a known DCGAN layout "
                        f"(PyTorch examples main.<i>.*, gan-viz conv1/bn1...): key {odd[1]} {_shape(odd[2])} "
                        f"fits neither; {HINT}")
    state = {k: t for k, _, t in entries}
    _fill_batches_tracked(state)
    return NetState(state, {k: s for k, s, _ in entries}, "gan-viz", where)


def _rename_examples(entries: list, where: str) -> NetState:
    groups: dict[int, list] = {}
    for key, shown, t in entries:
        m = _EXAMPLES.match(key)
        groups.setdefault(int(m.group(1)), []).append((m.group(2), shown, t))
    state, shown_of, conv = {}, {}, 0
    for i in sorted(groups):
        params = groups[i]
        w = next((t for p, _, t in params if p == "weight"), None)
        if w is not None and w.dim() not in (1, 4):
            s = next(s for p, s, _ in params if p == "weight")
            raise UserError(f"{where}: key {s} has shape {_shape(w)}, expected a convolution weight "
                            f"(out, in, 4, 4) or a BatchNorm weight (C,): the PyTorch examples DCGAN has only "
                            f"those; {HINT}")
        name = f"conv{conv + 1}" if w is not None and w.dim() == 4 else f"bn{conv}"  # BN: the conv it follows
        conv += name.startswith("conv")
        for p, s, t in params:
            state[f"{name}.{p}"], shown_of[f"{name}.{p}"] = t, s
    _fill_batches_tracked(state)
    return NetState(state, shown_of, "pytorch-examples", where)


def _fill_batches_tracked(state: dict) -> None:
    """BatchNorm counters absent from files written before PyTorch 0.4.1 (unused in eval)."""
    for k in [k for k in state if k.endswith(".running_mean")]:
        state.setdefault(k[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0))


def _infer(role: str, s: NetState) -> dict:
    """ModelConfig fields that the convolution shapes of one network give."""
    convs = sorted(int(m.group(1)) for k in s.state if (m := re.fullmatch(r"conv(\d+)\.weight", k)))
    what = _what(role)
    if not convs:
        first = next(iter(s.shown.values()))
        raise UserError(f"{s.where}: the {what} has no convolution weights (first key {first}); a DCGAN "
                        f"layout starts with one; {HINT}")
    for i in convs:
        w = s.state[f"conv{i}.weight"]
        if w.dim() != 4:
            raise UserError(f"{s.where}: key {s.shown[f'conv{i}.weight']} has shape {_shape(w)}, expected a "
                            f"4-D convolution weight; {HINT}")
    n = len(convs)
    if n < 3 or n > 7 or convs != list(range(1, n + 1)):
        raise UserError(f"{s.where}: the {what} has {n} convolutions; a DCGAN for 16 to 256 px images has "
                        f"3 to 7 (one per 2x resolution step, plus one); {HINT}")
    w1, wn = s.state["conv1.weight"], s.state[f"conv{n}.weight"]
    kw: dict = {"image_size": 2 ** (n + 1), "conv_bias": "conv1.bias" in s.state}
    if role == "G":
        up = "nearest-conv" if s.state["conv2.weight"].shape[-1] == 3 else "transposed"
        kw.update(nz=int(w1.shape[0]), ngf=max(1, int(w1.shape[1]) // 2 ** (n - 2)), g_upsample=up,
                  nc=int(wn.shape[1] if up == "transposed" else wn.shape[0]))
        nc_key = f"conv{n}.weight"
    else:
        kw.update(ndf=int(w1.shape[0]), nc=int(w1.shape[1]))
        nc_key = "conv1.weight"
    if kw["nc"] not in (1, 3):
        raise UserError(f"{s.where}: key {s.shown[nc_key]} {_shape(s.state[nc_key])} gives {kw['nc']} image "
                        f"channels; a DCGAN gan-viz builds has 1 or 3; {HINT}")
    return kw


def infer_config(nets: Nets) -> ModelConfig:
    """The :class:`ModelConfig` of the networks' shapes (both must agree on size, channels, bias)."""
    kws = {role: _infer(role, s) for role, s in nets.states.items()}
    kw: dict = {"z_dist": "normal"}  # the PyTorch examples draw z ~ N(0, 1)
    for k in ("image_size", "nc", "conv_bias"):
        vals = {role: v[k] for role, v in kws.items()}
        if len(set(vals.values())) > 1:
            where = next(iter(nets.states.values())).where
            raise UserError(f"{where}: the generator and the discriminator disagree on {k} "
                            f"({vals['G']} vs {vals['D']}); they are not one DCGAN pair")
    for v in kws.values():
        kw.update(v)
    try:
        return ModelConfig(**kw)
    except UserError as e:
        s = next(iter(nets.states.values()))
        raise UserError(f"{s.where}: key {s.shown['conv1.weight']} {_shape(s.state['conv1.weight'])} gives "
                        f"a DCGAN gan-viz cannot build ({e}); {HINT}") from None


def describe(cfg: ModelConfig, role: str, layout: str) -> str:
    name = "the PyTorch examples DCGAN" if layout == "pytorch-examples" else "the gan-viz DCGAN"
    if role == "G":
        dims = f"nz {cfg.nz}, ngf {cfg.ngf}"
    else:
        dims = f"ndf {cfg.ndf}"
    bias = ", convolutions with bias" if cfg.conv_bias else ""
    return f"{name} {_what(role)} at {cfg.image_size}x{cfg.image_size} ({dims}, nc {cfg.nc}{bias})"


def fit(net: nn.Module, role: str, s: NetState, cfg: ModelConfig) -> nn.Module:
    """Load ``s`` into ``net`` after checking every key and shape against it (one-line misfits)."""
    expected = net.state_dict()
    desc = describe(cfg, role, s.layout)
    for k, t in s.state.items():
        if k not in expected:
            raise UserError(f"{s.where}: key {s.shown.get(k, k)} {_shape(t)} has no place in {desc}; {HINT}")
        if tuple(expected[k].shape) != tuple(t.shape):
            raise UserError(f"{s.where}: key {s.shown.get(k, k)} has shape {_shape(t)}, expected "
                            f"{_shape(expected[k])} for {desc}; {HINT}")
    missing = [k for k in expected if k not in s.state]
    if missing:
        raise UserError(f"{s.where}: the {_what(role)} lacks {_shown_missing(missing[0], s)} "
                        f"{_shape(expected[missing[0]])} of {desc}; {HINT}")
    net.load_state_dict(s.state, strict=True)
    return net.eval()


def _shown_missing(key: str, s: NetState) -> str:
    """A missing key as the file would name it (``main.3.bias`` beside ``main.3.weight``)."""
    layer, param = key.rsplit(".", 1)
    for k, shown in s.shown.items():
        if k.startswith(layer + "."):
            other = k.rsplit(".", 1)[1]
            i = shown.rfind(other)
            return shown[:i] + param + shown[i + len(other):]
    return key


def build_nets(nets: Nets) -> tuple[ModelConfig, nn.Module | None, nn.Module | None]:
    """The config and the loaded gan-viz networks of what :func:`networks` found."""
    cfg = infer_config(nets)
    out = {}
    for role, build in (("G", build_generator), ("D", build_discriminator)):
        s = nets.states.get(role)
        out[role] = None if s is None else fit(build(cfg), role, s, cfg)
    return cfg, out["G"], out["D"]


def step_epoch(meta: Mapping) -> tuple[int | None, int | None]:
    """Step and epoch where the metadata names them (``epoch``, ``iteration``, ``global_step``...)."""
    def num(v):
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        return int(v) if isinstance(v, str) and v.strip().isdigit() else None

    step = next((num(meta[k]) for k in STEP_KEYS if k in meta and num(meta[k]) is not None), None)
    return step, num(meta.get("epoch"))


# --- safetensors ----------------------------------------------------------------------------

def is_safetensors(path: Path) -> bool:
    """True when the file starts as safetensors does: a little-endian u64 header length, then JSON."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= path.stat().st_size - 8


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (file order) and the string metadata of a safetensors file; no code runs."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in sorted(f.keys(), key=_natural)}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is a truncated or damaged safetensors file ({first}); pass a complete one") \
            from None
    return tensors, meta


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> None:
    """Write ``tensors`` (contiguous copies) with JSON-encoded ``metadata`` values to ``path``."""
    from safetensors.torch import save_file

    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path), metadata=meta)
