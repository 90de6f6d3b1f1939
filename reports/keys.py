"""What a report section's cache key is made of: the inputs' stamps and digests of code and weights.

A section is reused only when its folder's ``report_key.json`` equals :func:`cache_key` of this
run: the analysis and its options, the subject's provenance and a digest of its weights
(:func:`weights_digest`), the data's stamp, seed and device, the shipped scene parsers' stamps,
and a digest of gan-viz's own source (:func:`source_digest`: every ``.py`` of gan_viz, analyses
and reports), so an edited analysis reruns.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from gan_viz import __version__

if TYPE_CHECKING:
    from .report import Inputs
    from .sections import Section

KEY_FILE = "report_key.json"


def weights_digest(subject) -> str:
    """sha256 over the names, shapes, dtypes and values of every tensor of G and D."""
    import torch

    h = hashlib.sha256()
    for tag, net in (("G", subject.G), ("D", subject.D)):
        if net is None:
            continue
        for name, t in net.state_dict().items():
            t = t.detach().cpu().contiguous()
            h.update(f"{tag}.{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update((t.view(torch.uint8) if t.dim() else t.reshape(1).view(torch.uint8)).numpy().tobytes())
    return h.hexdigest()


def file_stamp(path: Path | None) -> dict:
    """What identifies a file's content cheaply: path, size and mtime."""
    if path is None or not Path(path).exists():
        return {}
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(s: Section, options: Mapping, inputs: Inputs) -> dict:
    key = {"analysis": s.name, "options": dict(options), "gan_viz_version": __version__, "source": source_digest()}
    if s.model:
        key.update(subject=inputs.stamp(), data=inputs.data_stamp(), seed=inputs.seed, device=inputs.device,
                   parser=parser_stamp())
    if options.get("heldout_root"):  # a folder of held-out images: what it holds, not only its name
        from gan_viz.data.cache import content_key

        key["heldout_content"] = content_key("folder", options["heldout_root"])
    return key


def package_digest(roots: Mapping[str, Path]) -> str:
    """sha256 over every ``.py`` file under each root (name -> folder): its name as
    ``name/relative/path`` and its bytes, in sorted order."""
    h = hashlib.sha256()
    for name, root in sorted(roots.items()):
        for p in sorted(Path(root).rglob("*.py")):
            if "__pycache__" not in p.parts:
                h.update(f"{name}/{p.relative_to(root).as_posix()}\0".encode() + p.read_bytes() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def source_digest() -> str:
    """The installed gan-viz's code (:func:`package_digest` of gan_viz, gan_viz.analyses and
    gan_viz.reports), computed once per process: any edited ``.py`` gives another digest."""
    import gan_viz
    import gan_viz.analyses
    import gan_viz.reports

    return package_digest({m.__name__: Path(m.__file__).parent for m in (gan_viz, gan_viz.analyses, gan_viz.reports)})


def cached(folder: Path, key: dict) -> bool:
    """Whether ``folder`` holds a summary made with exactly ``key``."""
    f = folder / KEY_FILE
    if not (folder / "summary.json").exists() or not f.exists():
        return False
    try:
        return json.loads(f.read_text()) == key
    except json.JSONDecodeError:
        return False


def parser_stamp() -> dict:
    """The shipped scene parsers (the measuring instrument and its held-out second) measure several
    sections: a new one invalidates their cache."""
    from gan_viz.parser import DEFAULT_PATH

    stamps = {p.name: file_stamp(p) for p in sorted(Path(DEFAULT_PATH).parent.glob("parser*.pt"))}
    return stamps if len(stamps) > 1 else file_stamp(Path(DEFAULT_PATH))
