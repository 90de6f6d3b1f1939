"""gan-viz train: the paper's DCGAN recipe (or the vanilla MLP GAN), resumable."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from ..config import ModelConfig
from ..errors import UserError
from .common import device_of

NAME = "train"
HELP = "train a DCGAN (paper recipe) or the vanilla MLP GAN; resumable; torchrun for several processes"
EXAMPLES = [
    "gan-viz train --dataset rooms --image-size 32 --epochs 5 --out runs/rooms32",
    "gan-viz train --resume --out runs/rooms32            # continue after a crash or kill",
    "gan-viz train --dataset mnist --data-root ~/data --image-size 32 --max-steps 2000 --out runs/mnist",
    "torchrun --nproc_per_node 2 -m gan_viz train --dataset rooms --max-steps 100 --out runs/ddp",
]
GRAY = {"mnist", "fashion-mnist", "digits"}


def add_arguments(p):
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")
    p.add_argument("--dataset", default="rooms", help="rooms (default, built in), digits, fake, folder, mnist, "
                   "fashion-mnist, cifar10, lsun, celeba")
    p.add_argument("--data-root", default=None, help="where a real dataset lies (never downloaded unless --download)")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument("--arch", default="dcgan", choices=["dcgan", "mlp"])
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--nc", type=int, default=None, help="image channels (default: the dataset's)")
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--mlp-hidden", type=int, default=1024)
    p.add_argument("--z-dist", default="uniform", choices=["uniform", "normal"],
                   help="uniform in [-1, 1] (paper, default) or normal (PyTorch example)")
    p.add_argument("--g-upsample", default="transposed", choices=["transposed", "nearest-conv"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128, help="global batch (split over torchrun processes)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16 = autocast; use it only where the hardware has bf16")
    p.add_argument("--g-ema", type=float, default=0.0, metavar="DECAY",
                   help="also keep a moving average of G's weights (e.g. 0.999); samples, quality figures and "
                        "the checkpoints' G use it, training is unchanged (default 0: off)")
    p.add_argument("--d-real-label", type=float, default=1.0, metavar="TARGET",
                   help="D's target on real images: 1 (the paper, default); 0.9 is one-sided label smoothing "
                        "(Salimans et al. 2016), which keeps D from becoming certain")
    p.add_argument("--checkpoint-every", type=int, default=500, metavar="STEPS")
    p.add_argument("--sample-every", type=int, default=250, metavar="STEPS")
    p.add_argument("--log-every", type=int, default=10, metavar="STEPS")
    p.add_argument("--dataset-size", type=int, default=None, help="train on the first N images only")
    p.add_argument("--data-cache-mb", type=int, default=1024, metavar="MB",
                   help="memory for the decoded training images: rooms are rendered into memory once when "
                        "they fit (default 1024: 50,000 rooms at 64x64 take 586 MB; 0 renders on the fly); "
                        "image files (folder, lsun, celeba, cifar10, mnist) are decoded once into a cache file "
                        "that is read into memory when it fits, else read from disk batch by batch")
    p.add_argument("--data-cache-dir", default=None, metavar="DIR",
                   help="where decoded image files are cached (default: ~/.cache/gan-viz/decoded); "
                        "reused by later runs while the files are unchanged")
    p.add_argument("--no-data-cache", action="store_true",
                   help="decode image files at every epoch instead (the slow path)")
    p.add_argument("--bad-images", default="stop", choices=["stop", "skip"],
                   help="an unreadable image file: stop (default, naming it) or skip and count it")
    p.add_argument("--heldout-share", type=float, default=0.05, metavar="SHARE",
                   help="a folder of images (no test split): hold this share out (at most 5,000 images), never "
                        "train on it, and record the files in the checkpoint and OUT/heldout.txt, so memorisation "
                        "and data copying have images G never saw (default 0.05; 0 trains on every image)")
    p.add_argument("--no-quality", action="store_true", help="skip the per-epoch sample-quality figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _configs(args):
    from ..training.config import TrainConfig

    if args.resume:
        from ..checkpoint import load_checkpoint

        last = Path(args.out) / "checkpoints" / "last.pt"
        if not last.exists():
            raise UserError(f"--resume: {last} does not exist; start the run without --resume")
        ck = load_checkpoint(last)
        recorded = dict(ck.train_config or {})
        recorded.setdefault("heldout_share", 0.0)  # a run from before the held-out list held nothing out
        tcfg = TrainConfig.from_dict(recorded)
        overrides = {k: getattr(args, k) for k in ("epochs", "max_steps") if getattr(args, k) is not None}
        return ck.config, tcfg.replace(**overrides) if overrides else tcfg
    nc = args.nc if args.nc is not None else (1 if args.dataset in GRAY else 3)
    mcfg = ModelConfig(arch=args.arch, image_size=args.image_size, nc=nc, nz=args.nz, ngf=args.ngf, ndf=args.ndf,
                       z_dist=args.z_dist, g_upsample=args.g_upsample, mlp_hidden=args.mlp_hidden)
    tcfg = TrainConfig(dataset=args.dataset, data_root=args.data_root, batch_size=args.batch_size, lr=args.lr,
                       beta1=args.beta1, epochs=args.epochs, max_steps=args.max_steps,
                       checkpoint_every=args.checkpoint_every, sample_every=args.sample_every,
                       log_every=args.log_every, quality_every_epoch=not args.no_quality, seed=args.seed,
                       precision=args.precision, dataset_size=args.dataset_size,
                       data_cache_mb=args.data_cache_mb, data_cache_dir=args.data_cache_dir,
                       data_cache=not args.no_data_cache, bad_images=args.bad_images,
                       heldout_share=args.heldout_share, g_ema=args.g_ema, d_real_label=args.d_real_label)
    return mcfg, tcfg


def run(args) -> int:
    from ..training import distributed
    from ..training.hardware import check_precision
    from ..training.quality import epoch_quality
    from ..training.run import TrainingRun

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not args.resume and (out / "checkpoints" / "last.pt").exists():
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    mcfg, tcfg = _configs(args)
    device = device_of(args)
    check_precision(tcfg.precision, device)
    info = distributed.setup(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    finished = False
    try:
        run_ = TrainingRun(mcfg, tcfg, out, device, info, quality=None if args.no_quality else epoch_quality)
        if args.resume:
            run_.resume()
        run_.start_files(sys.argv)
        t0 = time.time()
        res = run_.fit()
        if info.is_main:
            print(f"trained {res['steps']} steps ({res['epochs']:.2f} epochs) in {time.time() - t0:.0f} s; "
                  f"checkpoint: {out / 'checkpoints' / 'last.pt'}")
        finished = True
    finally:
        distributed.teardown(info, finished)
    return 0
