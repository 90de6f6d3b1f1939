"""The images an analysis scans: real test images of a dataset, or generated ones.

``ImageSource.fetch(indices) -> (B, C, H, W)`` float32 in [-1, 1] on the CPU; real
sources of a dataset with object masks (rooms) also give class maps.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .errors import UserError

if TYPE_CHECKING:
    from .subject import Subject

SOURCES = ("auto", "real", "generated")
NO_TEST_SPLIT = ("folder",)  # datasets whose "test" images are the training images again


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode (BatchNorm running statistics: batch rows independent) for the body."""
    was = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was)


@dataclass(frozen=True)
class ImageSource:
    """The N images to scan. ``fetch(indices) -> (B, C, H, W)`` float32 in [-1, 1] on the CPU."""

    kind: str  # "real" or "generated"
    name: str  # dataset name, or "G"
    n: int
    fetch: Callable[[np.ndarray], torch.Tensor]
    z: torch.Tensor | None = None  # (N, nz) for generated images
    classmaps: Callable[[np.ndarray], np.ndarray] | None = None  # indices -> (B, H, W) class ids
    class_names: tuple = ()
    fallback: str = ""  # generated in place of real images: why no real ones (said in titles and captions)
    held_out: bool = True  # real images from a test split (a folder has none: its images may be training ones)

    @property
    def words(self) -> str:
        """The images in a few words, for figure captions: "real rooms test", "generated", ..."""
        if self.kind != "real":
            return "generated"
        return f"real {self.name} test" if self.held_out else f"real {self.name} (no test split)"

    @property
    def note(self) -> str:
        """Where the images come from, in a phrase (summaries and captions)."""
        if self.kind != "real":
            return f"generated images, not real ones (no real images: {self.fallback})" if self.fallback \
                else "generated images"
        if self.held_out:
            return f"real test images of {self.name}"
        return f"real images of {self.name} (it has no test split: they may include training images)"


def generated_source(G: nn.Module | Callable, z: torch.Tensor, device: torch.device | str = "cpu",
                     module: nn.Module | None = None) -> ImageSource:
    """Images G(z[i]) (eval mode), produced on demand: z (N, nz). ``G`` may be any callable z -> images;
    ``module`` (default: ``G`` when it is a module) is moved to ``device`` and kept in eval mode."""
    wrapped = module if module is not None and not isinstance(G, nn.Module) else None
    if wrapped is not None:
        wrapped.to(device).eval()
    module = G if isinstance(G, nn.Module) else None

    @torch.no_grad()
    def fetch(idx: np.ndarray) -> torch.Tensor:
        zz = z[torch.as_tensor(idx, dtype=torch.long)].to(device)
        if module is None:
            return G(zz).float().cpu()
        with evaluating(module):
            return module(zz).float().cpu()

    if module is not None:
        module.to(device)
    return ImageSource("generated", "G", len(z), fetch, z=z)


def dataset_source(ds, name: str, n: int, class_names: Sequence[str] = ()) -> ImageSource:
    """The first ``n`` items of a dataset; class maps from ``ds.sample(i).classmap`` when it has them."""
    if n > len(ds):
        where = "the folder" if name == "folder" else f"the {name} test split"  # a folder has no test split
        raise UserError(f"--images {n}: {where} has only {len(ds)} images; ask for fewer")

    def fetch(idx: np.ndarray) -> torch.Tensor:
        if hasattr(ds, "get_batch"):
            return ds.get_batch([int(i) for i in idx]).float()
        return torch.stack([ds[int(i)][0] for i in idx]).float()

    maps = None
    if class_names and callable(getattr(ds, "sample", None)):
        def maps(idx: np.ndarray) -> np.ndarray:
            return np.stack([np.asarray(ds.sample(int(i)).classmap) for i in idx])
    return ImageSource("real", name, n, fetch, classmaps=maps, class_names=tuple(class_names) if maps else ())


def real_source(subject: "Subject", n: int, dataset: str | None = None, data_root: str | None = None,
                split: str = "test") -> ImageSource:
    """``n`` real images of ``dataset`` (default: the subject's domain) at the subject's image shape."""
    from .data import build_dataset

    name = dataset or subject.domain
    if name is None:
        raise UserError(f"{subject.where} does not record its dataset; pass --dataset NAME "
                        "(and --data-root DIR) or use --source generated")
    root = data_root or (subject.train_config or {}).get("data_root")
    if subject.image_shape[1] != subject.image_shape[2]:
        raise UserError(f"the model's images are {subject.image_shape[1]}x{subject.image_shape[2]}; real "
                        "datasets load square images only: use --source generated")
    ds = build_dataset(name, subject.image_size, subject.nc, split, root, seed=0)
    classes = ()
    if name == "rooms":
        from .data.rooms import CLASSES

        classes = CLASSES
    return replace(dataset_source(ds, name, n, classes), held_out=name not in NO_TEST_SPLIT)


def image_source(subject: "Subject", source: str = "auto", n: int = 1000, seed: int = 0,
                 device: torch.device | str = "cpu", dataset: str | None = None,
                 data_root: str | None = None) -> tuple[ImageSource, str]:
    """The images to scan and a note on why that source was chosen.

    ``source``: "real" (test images of ``dataset`` or the subject's domain), "generated"
    (G(z) for n z drawn with ``seed``), or "auto" (real where available, else generated).
    Data that was asked for (``dataset`` or ``data_root`` given) and cannot be opened is an
    error, never replaced: "auto" falls back to generated images only when no data was named,
    and the source then carries the reason (``fallback``) for figure titles and captions.
    """
    if source not in SOURCES:
        raise UserError(f"image source {source!r} is unknown; choose one of {', '.join(SOURCES)}")
    asked = dataset is not None or data_root is not None
    fallback = ""
    if source in ("auto", "real"):
        try:
            src = real_source(subject, n, dataset, data_root)
            return src, src.note
        except UserError as e:
            if source == "real" or asked or not subject.has_G:
                raise
            fallback = str(e)
    z = subject.sample_z(n, torch.Generator().manual_seed(seed))
    src = replace(generated_source(subject.generator_fn(), z, device, module=subject.G), fallback=fallback)
    return src, src.note if fallback else "generated images (--source generated)"
