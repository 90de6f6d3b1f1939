"""Self-describing checkpoints, and safe opening of any DCGAN checkpoint.

A gan-viz checkpoint is one file holding the model config, both networks, optimizer
states, step/epoch, RNG states and the training config. It is written atomically and
read with ``torch.load(weights_only=True)`` only: loading never runs code from a file.

PyTorch examples checkpoints (``netG_epoch_N.pth`` / ``netD_epoch_N.pth``: bare state
dicts with ``main.<i>.*`` keys) open too; the sibling network is found beside the file
and nz / ngf / ndf / nc / image size are inferred from the tensor shapes.
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .config import ModelConfig
from .errors import UserError
from .io import atomic_path
from .models import build_discriminator, build_generator

FORMAT = "gan-viz/1"
ASSETS = Path(__file__).resolve().parent / "assets"
BUNDLED = ASSETS / "rooms_dcgan.pt"


@dataclass
class Checkpoint:
    """An opened checkpoint. ``G`` or ``D`` is None when the file did not hold it."""

    config: ModelConfig
    G: nn.Module | None
    D: nn.Module | None
    path: Path
    source: str  # "gan-viz" or "pytorch-examples"
    step: int = 0
    epoch: int = 0
    train_config: dict | None = None
    raw: dict = field(default_factory=dict, repr=False)  # the whole payload (for resuming)

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


def safe_load(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with one-line errors for every bad file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist; check the path given to --ckpt")
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the checkpoint file inside it "
                        "(for a training run: RUN/checkpoints/last.pt)")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint {path} is empty (0 bytes); the file was not written completely")
    try:
        with warnings.catch_warnings():  # torch's remarks on a stranger's file (pickle protocol...) are noise
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise UserError(f"refusing to load {path}: it would need arbitrary unpickling (code execution); "
                            "only tensors and plain data are loaded. Re-save it as a state_dict") from None
        raise UserError(f"{path} is not a PyTorch checkpoint (it does not unpickle); "
                        "pass a .pt/.pth file written by gan-viz or torch.save") from None
    except Exception as e:  # any parse failure of an untrusted file (KeyError, EOFError, zip errors...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is truncated or not a PyTorch checkpoint ({first[:120]}); "
                        "pass a complete .pt/.pth file") from None


def load_checkpoint(path: str | Path | None = None) -> Checkpoint:
    """Open a gan-viz or PyTorch examples checkpoint; ``None`` opens the bundled one."""
    if path is None:
        if not BUNDLED.exists():
            raise UserError("the bundled checkpoint is not installed with this copy of gan-viz; "
                            "pass --ckpt with a checkpoint (e.g. one from `gan-viz train`)")
        path = BUNDLED
    path = Path(path)
    obj = safe_load(path)
    if isinstance(obj, Mapping) and str(obj.get("format", "")).startswith("gan-viz/"):
        return _from_gan_viz(path, obj)
    if isinstance(obj, Mapping) and any(isinstance(k, str) and k.startswith("main.") for k in obj):
        return _from_pytorch_examples(path, obj)
    raise UserError(f"{path} is neither a gan-viz checkpoint nor a PyTorch examples DCGAN "
                    "(netG_/netD_epoch_N.pth); pass a checkpoint of one of those")


def _from_gan_viz(path: Path, obj: Mapping) -> Checkpoint:
    if obj["format"] != FORMAT:
        raise UserError(f"{path} has checkpoint format {obj['format']!r}; this gan-viz reads {FORMAT!r}")
    cfg = ModelConfig.from_dict(obj.get("config"))
    G = _load_net(build_generator(cfg), obj.get("G"), path, "generator")
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


# --- PyTorch examples DCGAN ----------------------------------------------------------

_PT_NAME = re.compile(r"net([GD])_(.*)$")


def _pt_kind(state: Mapping) -> str:
    """'G' or 'D': G has BatchNorm right after its first layer (main.1), D a LeakyReLU."""
    return "G" if "main.1.running_mean" in state or "main.1.weight" in state else "D"


def _pt_rename(state: Mapping, kind: str) -> dict:
    """Map ``main.<i>.<p>`` keys onto gan-viz layer names by layer order."""
    idx = sorted({int(k.split(".")[1]) for k in state if re.match(r"main\.\d+\.", k)})
    out, conv, bn = {}, 0, 0
    for i in idx:
        params = {k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"main.{i}.")}
        w = params.get("weight")
        if w is not None and w.dim() == 4:
            conv += 1
            name = f"conv{conv}"
        else:
            bn = conv  # BatchNorm takes the number of the conv it follows
            name = f"bn{bn}"
            params.setdefault("num_batches_tracked", torch.tensor(0))  # pre-0.4.1 files
        out.update({f"{name}.{p}": v for p, v in params.items()})
    return out


def _pt_config(G_state: Mapping | None, D_state: Mapping | None, path: Path) -> ModelConfig:
    try:
        ref = G_state if G_state is not None else D_state
        nconv = sum(1 for k, v in ref.items() if k.endswith(".weight") and v.dim() == 4)
        size = 2 ** (nconv + 1)
        kw: dict = {"image_size": size, "z_dist": "normal"}
        if G_state is not None:
            w0 = G_state["conv1.weight"]  # (nz, ngf * 2^(nb-1), 4, 4)
            kw.update(nz=w0.shape[0], ngf=w0.shape[1] // 2 ** (nconv - 2),
                      nc=G_state[f"conv{nconv}.weight"].shape[1])
        if D_state is not None:
            w0 = D_state["conv1.weight"]  # (ndf, nc, 4, 4)
            kw.update(ndf=w0.shape[0], nc=w0.shape[1])
        return ModelConfig(**kw)
    except (KeyError, IndexError, AttributeError, UserError) as e:
        raise UserError(f"{path} has main.* keys but not the PyTorch examples DCGAN layout ({e}); "
                        "only that architecture can be imported") from None


def _from_pytorch_examples(path: Path, state: Mapping) -> Checkpoint:
    kind = _pt_kind(state)
    states: dict[str, dict | None] = {"G": None, "D": None}
    states[kind] = _pt_rename(state, kind)
    m = _PT_NAME.match(path.stem)
    other = "D" if kind == "G" else "G"
    if m:
        sibling = path.with_name(f"net{other}_{m.group(2)}{path.suffix}")
        if sibling.exists():
            sib = safe_load(sibling)
            if isinstance(sib, Mapping) and _pt_kind(sib) == other:
                states[other] = _pt_rename(sib, other)
    cfg = _pt_config(states["G"], states["D"], path)
    nets = {}
    for k, build in (("G", build_generator), ("D", build_discriminator)):
        if states[k] is None:
            nets[k] = None
            continue
        net = build(cfg)
        try:
            net.load_state_dict(states[k], strict=True)
        except RuntimeError as e:
            raise UserError(f"{path}: the {'generator' if k == 'G' else 'discriminator'} does not fit the "
                            f"PyTorch examples DCGAN layout ({str(e).splitlines()[0][:150]}); "
                            "another architecture cannot be imported") from None
        nets[k] = net.eval()
    epoch = int(m.group(2).split("_")[-1]) if m and m.group(2).split("_")[-1].isdigit() else 0
    return Checkpoint(cfg, nets["G"], nets["D"], path, "pytorch-examples", 0, epoch, None, {})


# --- subjects -------------------------------------------------------------------------

def to_subject(ck: Checkpoint, sha256: str | None = None) -> "Subject":
    """The :class:`~gan_viz.subject.Subject` of an opened checkpoint (config, domain, provenance)."""
    from .subject import Provenance, Subject, file_sha256

    meta = {"step": ck.step, "epoch": ck.epoch}
    prov = Provenance(str(ck.path), ck.source, sha256 or file_sha256(ck.path), meta)
    return Subject.from_config(ck.config, ck.G, ck.D, domain=ck.dataset, provenance=prov, step=ck.step,
                               epoch=ck.epoch, train_config=ck.train_config, raw=ck.raw)


def load_subject(path: str | Path | None = None, model_def: str | None = None) -> "Subject":
    """The subject to audit: a checkpoint file (``None``: the bundled model) or ``FILE.py:FUNC``."""
    if model_def is not None:
        from .model_def import load_model_def

        return load_model_def(model_def, ckpt=path)
    return to_subject(load_checkpoint(path))
