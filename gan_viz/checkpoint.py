"""Self-describing checkpoints, and safe opening of any DCGAN checkpoint, by content.

A gan-viz checkpoint is one file holding the model config, both networks, optimizer
states, step/epoch, RNG states and the training config. It is written atomically and
read with ``torch.load(weights_only=True)`` only: loading never runs code from a file.

Other files open too, whatever their name (the layouts are read by
:mod:`gan_viz.formats`): PyTorch examples ``netG_epoch_N.pth`` / ``netD_epoch_N.pth``
(bare ``main.<i>.*`` state dicts; the sibling network is found beside the file), the same
with ``module.`` prefixes, without ``num_batches_tracked`` or with convolution biases;
``{"netG": ..., "netD": ...}`` / ``{"state_dict": ...}`` wrappers (their plain entries
kept as metadata); and ``.safetensors`` files, gan-viz's own export (config in the
metadata) or flat state dicts. nz / ngf / ndf / nc / image size are inferred from the
tensor shapes where the file does not record them.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from . import formats
from .config import ModelConfig
from .errors import UserError
from .io import atomic_path
from .models import build_discriminator, build_generator

FORMAT = "gan-viz/1"
ASSETS = Path(__file__).resolve().parent / "assets"
# The bundled rooms DCGANs, by name (``--ckpt rooms32``); DEFAULT is what every command opens without --ckpt.
BUNDLED_MODELS = {"rooms32": ASSETS / "rooms_dcgan.pt", "rooms64": ASSETS / "rooms_dcgan64.pt"}
DEFAULT = "rooms64"
BUNDLED = BUNDLED_MODELS[DEFAULT]


def named(path: str | Path | None) -> Path | None:
    """``None`` -> the default bundled model; a bundled model's name (``rooms32``, ``rooms64``) that is not a
    file here -> its path; anything else -> itself."""
    if path is None:
        return BUNDLED
    if str(path) in BUNDLED_MODELS and not Path(path).exists():
        found = BUNDLED_MODELS[str(path)]
        if not found.exists():
            raise UserError(f"the bundled model {path} is not installed with this copy of gan-viz ({found.name}); "
                            f"bundled here: {', '.join(n for n, f in BUNDLED_MODELS.items() if f.exists()) or 'none'}")
        return found
    return Path(path)


@dataclass
class Checkpoint:
    """An opened checkpoint. ``G`` or ``D`` is None when the file did not hold it."""

    config: ModelConfig
    G: nn.Module | None
    D: nn.Module | None
    path: Path
    source: str  # "gan-viz", "pytorch-examples", "state-dict" or "safetensors"
    step: int = 0
    epoch: int = 0
    train_config: dict | None = None
    raw: dict = field(default_factory=dict, repr=False)  # the whole payload (for resuming)
    metadata: dict = field(default_factory=dict)  # plain entries beside the weights (epoch, iteration...)

    def require(self, net: str) -> nn.Module:
        """The network ``"G"`` or ``"D"``, or a clear error when this file lacks it."""
        model = self.G if net == "G" else self.D
        if model is None:
            other = "netG" if net == "G" else "netD"
            raise UserError(
                f"{self.path} holds no {'generator' if net == 'G' else 'discriminator'}; "
                f"put its {other}_epoch_N.pth beside it or pass that file with --ckpt")
        return model

    @property
    def dataset(self) -> str | None:
        """The dataset the model was trained on, when the checkpoint records it."""
        return (self.train_config or {}).get("dataset")


def save_checkpoint(path: str | Path, config: ModelConfig, G: nn.Module | None, D: nn.Module | None,
                    **extra: Any) -> Path:
    """Write a checkpoint atomically (temporary file + rename).

    ``extra`` may hold ``opt_G``, ``opt_D`` (state dicts), ``step``, ``epoch``, ``rng``
    (a dict of ByteTensors), ``train_config`` (a JSON-able dict) and other plain data.
    """
    payload = {"format": FORMAT, "config": config.to_dict(),
               "G": None if G is None else _plain_state(G),
               "D": None if D is None else _plain_state(D), **extra}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _plain_state(net: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist; check the path given to --ckpt")
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the checkpoint file inside it "
                        "(for a training run: RUN/checkpoints/last.pt)")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint {path} is empty (0 bytes); the file was not written completely")


def _refuse_pickle(path: Path, e: Exception) -> UserError:
    """The one-line refusal of a file that needs arbitrary unpickling, with the --model-def way out."""
    m = re.search(r"GLOBAL ([\w.]+)", str(e))
    what = f" (it pickles {m.group(1)}: a whole model saved with torch.save(model)?)" if m else ""
    role = "D" if re.search(r"netD|disc|(^|[_.-])D([_.-]|$)", path.stem) else "G"
    return UserError(
        f"refusing to load {path}: it would need arbitrary unpickling (code execution){what}; only tensors and "
        f"plain data are loaded. Re-save it as a state_dict, or, if you trust the file, load it in your own "
        f"code with --model-def FILE.py:build, FILE.py being: import torch / def build(): / "
        f"return {{\"{role}\": torch.load(\"{path}\", weights_only=False), \"nz\": 100}} "
        f"(nz: your latent size; see the README, 'Your own model')")


def safe_load(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors for every bad file."""
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():  # torch's remarks on a stranger's file (pickle protocol...) are noise
            warnings.simplefilter("ignore")
            with open(path, "rb") as f:  # a file object: torch.load would go by a .safetensors name
                return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise _refuse_pickle(path, e) from None
        raise UserError(f"{path} is not a PyTorch checkpoint (it does not unpickle); "
                        "pass a .pt/.pth file written by gan-viz or torch.save") from None
    except Exception as e:  # any parse failure of an untrusted file (KeyError, EOFError, zip errors...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is truncated or not a PyTorch checkpoint ({first[:120]}); "
                        "pass a complete .pt/.pth file") from None


def read_weights(path: str | Path) -> Any:
    """What a file holds, by content: a safetensors file's tensors (a dict), else :func:`safe_load`."""
    path = Path(path)
    _check_file(path)
    return formats.read_safetensors(path)[0] if formats.is_safetensors(path) else safe_load(path)


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Open a checkpoint of any format gan-viz reads (see the module docstring); ``None`` opens the
    bundled one."""
    if path is None and not BUNDLED.exists():
        raise UserError("the bundled checkpoint is not installed with this copy of gan-viz; "
                        "pass --ckpt with a checkpoint (e.g. one from `gan-viz train`)")
    path = named(path)
    _check_file(path)
    if formats.is_safetensors(path):
        return _from_safetensors(path)
    obj = safe_load(path)
    if isinstance(obj, Mapping) and str(obj.get("format", "")).startswith("gan-viz/"):
        return _from_gan_viz(path, obj)
    if isinstance(obj, Mapping):
        return _from_state_dicts(path, obj)
    raise UserError(f"{path} is neither a gan-viz checkpoint nor a state dict (it holds a "
                    f"{type(obj).__name__}); pass a checkpoint written by gan-viz or torch.save(net.state_dict())")


def _from_gan_viz(path: Path, obj: Mapping) -> Checkpoint:
    if obj["format"] != FORMAT:
        raise UserError(f"{path} has checkpoint format {obj['format']!r}; this gan-viz reads {FORMAT!r}")
    cfg = ModelConfig.from_dict(obj.get("config"))
    # a run trained with --g-ema samples from G's moving average: that is its generator
    g_state = obj.get("G_ema") if obj.get("G_ema") is not None else obj.get("G")
    G = _load_net(build_generator(cfg), g_state, path, "generator")
    D = _load_net(build_discriminator(cfg), obj.get("D"), path, "discriminator")
    return Checkpoint(cfg, G, D, path, "gan-viz", int(obj.get("step", 0)), int(obj.get("epoch", 0)),
                      obj.get("train_config"), dict(obj))


def _load_net(net: nn.Module, state: Mapping | None, path: Path, what: str) -> nn.Module | None:
    if state is None:
        return None
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"the {what} in {path} does not match its own config "
                        f"({str(e).splitlines()[0][:150]}); the file is damaged") from None
    return net.eval()


# --- state dicts and safetensors (gan_viz.formats) ------------------------------------

_PT_NAME = re.compile(r"net([GD])_(.*)$")


def _from_state_dicts(path: Path, obj: Mapping, source: str | None = None) -> Checkpoint:
    """Any state dict(s) of a DCGAN layout: bare (PyTorch examples), wrapped, prefixed, flat pairs."""
    nets = formats.networks(obj, str(path))
    m = _PT_NAME.match(path.stem)
    if not nets.wrapped and len(nets.states) == 1 and m:  # netG_epoch_24.pth: its netD_epoch_24.pth beside it
        other = "D" if "G" in nets.states else "G"
        sibling = path.with_name(f"net{other}_{m.group(2)}{path.suffix}")
        if sibling.is_file():
            sib_obj = read_weights(sibling)
            sib = formats.networks(sib_obj, str(sibling)) if isinstance(sib_obj, Mapping) else None
            if sib is not None and not sib.wrapped and set(sib.states) == {other}:
                nets.states[other] = sib.states[other]
    cfg, G, D = formats.build_nets(nets)
    source = source or ("pytorch-examples" if not nets.wrapped and nets.layout == "pytorch-examples"
                        else "state-dict")
    step, epoch = formats.step_epoch(nets.meta)
    if epoch is None and m and m.group(2).split("_")[-1].isdigit():
        epoch = int(m.group(2).split("_")[-1])
    return Checkpoint(cfg, G, D, path, source, step or 0, epoch or 0, None, {}, dict(nets.meta))


def _from_safetensors(path: Path) -> Checkpoint:
    """A .safetensors file: gan-viz's own export (config in its metadata) or any DCGAN state dict(s)."""
    tensors, meta = formats.read_safetensors(path)
    if not str(meta.get("format", "")).startswith("gan-viz/"):
        if not tensors:
            raise UserError(f"{path} is a safetensors file without tensors; pass one holding G and/or D")
        ck = _from_state_dicts(path, tensors, source="safetensors")
        step, epoch = formats.step_epoch(meta)
        ck.step, ck.epoch = step if step is not None else ck.step, epoch if epoch is not None else ck.epoch
        ck.metadata = {**meta, **ck.metadata}
        return ck
    if meta["format"] != FORMAT:
        raise UserError(f"{path} has checkpoint format {meta['format']!r}; this gan-viz reads {FORMAT!r}")
    try:
        cfg = ModelConfig.from_dict(json.loads(meta.get("config", "null")))
        train_config = json.loads(meta.get("train_config", "null"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: the model config in its metadata is not JSON ({e}); the file is damaged") \
            from None
    nets: dict[str, nn.Module | None] = {}
    for role, build, what in (("G", build_generator, "generator"), ("D", build_discriminator, "discriminator")):
        pre = f"net{role}."
        state = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
        nets[role] = _load_net(build(cfg), state or None, path, what)
    step, epoch = formats.step_epoch(meta)
    return Checkpoint(cfg, nets["G"], nets["D"], path, "safetensors", step or 0, epoch or 0, train_config, {},
                      {k: v for k, v in meta.items() if k not in ("config", "train_config")})


def save_safetensors(path: str | Path, config: ModelConfig, G: nn.Module | None, D: nn.Module | None,
                     step: int = 0, epoch: int = 0, train_config: dict | None = None) -> Path:
    """Write G and D (``netG.*`` / ``netD.*`` keys) and the model config (metadata) as safetensors,
    atomically; :func:`load_checkpoint` reopens it to the same networks."""
    tensors = {f"net{role}.{k}": v for role, net in (("G", G), ("D", D)) if net is not None
               for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": config.to_dict(), "step": str(int(step)), "epoch": str(int(epoch)),
            "train_config": train_config}
    with atomic_path(path, suffix=".safetensors") as tmp:
        formats.write_safetensors(tmp, tensors, meta)
    return Path(path)


# --- subjects -------------------------------------------------------------------------

def fast_layout(net: nn.Module | None) -> nn.Module | None:
    """A network gan-viz built (DCGAN, MLP), its 4-D weights in channels-last layout, as training
    runs them: oneDNN's fast path on a CPU (a 64x64 DCGAN G's forward at batch 256 on one AVX2
    thread: 1.2x faster, 1.6x with nearest-conv upsampling; outputs equal to float rounding).
    :func:`load_checkpoint` itself returns the default layout; analysis subjects get this one."""
    if net is None:
        return None
    return net.to(memory_format=torch.channels_last)


def to_subject(ck: Checkpoint, sha256: str | None = None) -> "Subject":
    """The :class:`~gan_viz.subject.Subject` of an opened checkpoint (config, domain, provenance)."""
    from .subject import Provenance, Subject, file_sha256

    meta = {**ck.metadata, "step": ck.step, "epoch": ck.epoch}
    prov = Provenance(str(ck.path), ck.source, sha256 or file_sha256(ck.path), meta)
    G, D = (fast_layout(net) for net in (ck.G, ck.D))
    return Subject.from_config(ck.config, G, D, domain=ck.dataset, provenance=prov, step=ck.step,
                               epoch=ck.epoch, train_config=ck.train_config, raw=ck.raw)


def load_subject(path: str | Path | None = None, model_def: str | None = None) -> "Subject":
    """The subject to audit: a checkpoint file (``None``: the bundled model) or ``FILE.py:FUNC``."""
    if model_def is not None:
        from .model_def import load_model_def

        return load_model_def(model_def, ckpt=path)
    return to_subject(load_checkpoint(path))
