"""Training on a folder of image files: gan-viz (decode once) vs the PyTorch examples pipeline.

The benchmark writes a folder of rooms as PNG files (64x64, 4,096 images by default),
then times, in this one run and on this machine, the whole wall time of

- ``reference``: what pytorch/examples ``dcgan/main.py`` does: ImageFolder with its
  transforms (Resize, CenterCrop, ToTensor, Normalize), ``DataLoader(shuffle=True,
  num_workers=2)``, its networks (the DCGAN layer list, weights_init), BCELoss, Adam
  2e-4 / 0.5, the D-real / D-fake / G steps with their ``.item()`` reads; as a fresh
  Python process, start-up included;
- ``gan_viz_first``: ``gan-viz train --dataset folder`` in a fresh process with an empty
  ``--data-cache-dir`` (the decode-once cache is built inside the timed run);
- ``gan_viz_reuse``: the same command again, reusing that cache.

And two figures that place those on this machine (``--no-bounds`` skips them):

- ``reference_in_memory``: the reference process with its ImageFolder replaced by the
  same number of images already in memory (a TensorDataset, no workers): what the
  example's loop costs when decoding is free. ``1 - reference_in_memory / reference``
  is the share of the example's wall time that decoding takes here: the most that
  decoding once can win before the training step itself must get faster.
- ``gan_viz_bf16``: the reuse run with ``--precision bf16``, only where the CPU has
  native bf16 (AVX512-BF16 or AMX): not the paper's fp32 recipe, so never in ``ratio``.

Both train for the same number of epochs at the same batch size (DCGAN, ngf=ndf=64).

    python benchmarks/train_folder.py            # 4,096 images, 2 epochs, batch 64
    python benchmarks/train_folder.py --quick    # 1,024 images, 1 epoch

Last line: JSON with ``ratio`` (reference wall / gan-viz first-run wall; goal >= 1.5 on
2 CPU cores), ``ratio_reuse``, each side's images/s (training images / wall s),
``decode_share_reference`` and ``ratio_bf16`` where measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write_folder(root: Path, n: int, size: int) -> None:
    """n rooms as PNGs under root/rooms/ (ImageFolder needs one class folder)."""
    from PIL import Image

    from gan_viz.data.rooms import RoomsDataset
    from gan_viz.images import to_uint8

    (root / "rooms").mkdir(parents=True, exist_ok=True)
    ds = RoomsDataset(image_size=size, n=n, split="train")
    for s in range(0, n, 256):
        idx = list(range(s, min(n, s + 256)))
        for i, pic in zip(idx, to_uint8(ds.get_batch(idx))):
            Image.fromarray(pic).save(root / "rooms" / f"{i:06d}.png")


def reference_loader(root: str, size: int, batch: int, workers: int, in_memory: bool):
    """The example's ImageFolder + DataLoader, or as many images already in memory (no workers)."""
    import torch
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    if in_memory:
        n = sum(1 for _ in Path(root).rglob("*.png"))
        images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        dataset = torch.utils.data.TensorDataset(images, torch.zeros(n))
        return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0)
    dataset = dset.ImageFolder(root=root, transform=transforms.Compose([
        transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers)


def reference(root: str, size: int, batch: int, epochs: int, workers: int, in_memory: bool = False) -> None:
    """pytorch/examples dcgan/main.py's pipeline and loop (no checkpoints, no image dumps);
    ``in_memory``: the same loop on as many images already decoded in memory."""
    import torch
    from torch import nn

    sys.path.insert(0, str(HERE))
    from train_throughput import reference_nets

    loader = reference_loader(root, size, batch, workers, in_memory)
    netG, netD = reference_nets(size)

    def weights_init(m):
        name = m.__class__.__name__
        if name.find("Conv") != -1:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif name.find("BatchNorm") != -1:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for epoch in range(epochs):
        for i, (real, _) in enumerate(loader):
            b = real.size(0)
            netD.zero_grad()
            label = torch.full((b,), 1.0)
            out = netD(real).view(-1)
            errD_real = criterion(out, label)
            errD_real.backward()
            D_x = out.mean().item()
            noise = torch.randn(b, 100, 1, 1)
            fake = netG(noise)
            label.fill_(0.0)
            out = netD(fake.detach()).view(-1)
            errD_fake = criterion(out, label)
            errD_fake.backward()
            D_G_z1 = out.mean().item()
            optD.step()
            netG.zero_grad()
            label.fill_(1.0)
            out = netD(fake).view(-1)
            errG = criterion(out, label)
            errG.backward()
            D_G_z2 = out.mean().item()
            optG.step()
            print(f"[{epoch}/{epochs}][{i}/{len(loader)}] Loss_D: {(errD_real + errD_fake).item():.4f} "
                  f"Loss_G: {errG.item():.4f} D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}")


def timed(cmd: list[str], log: Path) -> float:
    t = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT)
    return time.perf_counter() - t


def bounds(ref_cmd: list, cmd: list, ref_s: float, tmp: Path) -> dict:
    """The reference with its images in memory and, where the CPU has native bf16, gan-viz at bf16
    (see the module doc): their JSON fields, and the lines that say them."""
    from gan_viz.training.hardware import cpu_has_bf16

    mem_s = timed(ref_cmd + ["memory"], tmp / "reference_memory.log")
    share = 1 - mem_s / ref_s
    out = {"reference_in_memory_s": round(mem_s, 2), "decode_share_reference": round(share, 3),
           "lines": [f"reference with the images already in memory: {mem_s:.1f} s (decoding is "
                     f"{100 * share:.0f}% of the reference's wall time here)"]}
    if cpu_has_bf16():
        bf16_s = timed(cmd + ["--precision", "bf16", "--out", str(tmp / "run3")], tmp / "run3.log")
        out.update(gan_viz_bf16_s=round(bf16_s, 2), ratio_bf16=round(ref_s / bf16_s, 3))
        out["lines"].append(f"gan-viz --precision bf16, cache reused: {bf16_s:.1f} s (not the paper's fp32)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,024 images, 1 epoch")
    p.add_argument("--images", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="the reference DataLoader's num_workers (example: 2)")
    p.add_argument("--no-bounds", action="store_true",
                   help="skip the in-memory reference and the bf16 run (see the module doc)")
    p.add_argument("--_reference", nargs=6, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._reference:
        root, size, batch, epochs, workers, mode = a._reference
        reference(root, int(size), int(batch), int(epochs), int(workers), in_memory=mode == "memory")
        return
    n = a.images or (1024 if a.quick else 4096)
    epochs = a.epochs or (1 if a.quick else 2)
    steps = epochs * (n // a.batch_size)
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, cache = tmp / "images", tmp / "cache"
        t = time.perf_counter()
        write_folder(folder, n, a.size)
        write_s = time.perf_counter() - t
        ref_cmd = [sys.executable, __file__, "--_reference", str(folder), str(a.size), str(a.batch_size),
                   str(epochs), str(a.workers)]
        ref_s = timed(ref_cmd + ["files"], tmp / "reference.log")
        cmd = [sys.executable, "-m", "gan_viz", "train", "--dataset", "folder", "--data-root", str(folder),
               "--image-size", str(a.size), "--batch-size", str(a.batch_size), "--epochs", str(epochs),
               "--no-quality", "--data-cache-dir", str(cache), "--z-dist", "normal"]
        first_s = timed(cmd + ["--out", str(tmp / "run1")], tmp / "run1.log")
        reuse_s = timed(cmd + ["--out", str(tmp / "run2")], tmp / "run2.log")
        extra = {} if a.no_bounds else bounds(ref_cmd, cmd, ref_s, tmp)
        built = [line for line in (tmp / "run1" / "train.log").read_text().splitlines() if "decoded once" in line]
    trained = steps * a.batch_size
    print(f"folder of {n} PNGs ({a.size}x{a.size}) written in {write_s:.1f} s; {epochs} epochs at batch "
          f"{a.batch_size} = {trained} training images")
    print(f"reference (ImageFolder + DataLoader(num_workers={a.workers})): {ref_s:.1f} s wall")
    print(f"gan-viz, first run (cache built inside): {first_s:.1f} s; {built[0].split(' INFO ')[-1] if built else ''}")
    print(f"gan-viz, second run (cache reused): {reuse_s:.1f} s")
    for line in extra.pop("lines", []):
        print(line)
    print(json.dumps({"images": n, "epochs": epochs, "batch_size": a.batch_size, "size": a.size,
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": os.cpu_count(),
                      "reference_s": round(ref_s, 2), "gan_viz_first_s": round(first_s, 2),
                      "gan_viz_reuse_s": round(reuse_s, 2),
                      "reference_images_per_s": round(trained / ref_s, 1),
                      "gan_viz_first_images_per_s": round(trained / first_s, 1),
                      "gan_viz_reuse_images_per_s": round(trained / reuse_s, 1),
                      "ratio": round(ref_s / first_s, 3), "ratio_reuse": round(ref_s / reuse_s, 3), **extra}))


if __name__ == "__main__":
    main()
