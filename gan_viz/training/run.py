"""A training run folder: config, metrics, logs, samples, checkpoints, resume.

Layout of ``OUT``::

    config.json            model + training config, command line, world size
    train.log              human-readable log
    metrics.csv            step, epoch, loss_D, loss_G, D(x), D(G(z)), images/s
    samples/step_XXXXXXXX.png   a grid from a fixed z at every sample point
    quality.csv, quality/  per-epoch sample quality (see gan_viz.training.quality)
    checkpoints/last.pt, checkpoints/step_XXXXXXXX.pt
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..data import build_dataset
from ..errors import UserError
from ..images import grid, to_uint8
from ..io import atomic_path, run_record, save_png, write_json
from ..models import sample_z
from .config import TrainConfig
from .distributed import DistInfo, any_across, mean_across
from .ema import GeneratorEMA
from .loop import (Diverged, Prefetcher, autocast_for, build_nets, derived_seed, epoch_order,
                   train_step, weights_finite)

METRICS = ["step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z", "images_per_s"]
log = logging.getLogger("gan_viz.train")


def _setup_logging(out: Path) -> None:
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _tensorboard(path: Path):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))


class TrainingRun:
    """Train ``mcfg`` with ``tcfg`` into ``out`` (``resume`` continues ``out``)."""

    def __init__(self, mcfg: ModelConfig, tcfg: TrainConfig, out: Path, device: torch.device,
                 info: DistInfo = DistInfo(), quality=None):
        self.mcfg, self.tcfg, self.out, self.device, self.info = mcfg, tcfg, Path(out), device, info
        self.quality = quality  # callable(run, epoch) -> dict, or None
        self._notes: list[str] = []  # logged once the run's log file is open
        self.data = self._open_data(mcfg, tcfg, info)
        self.train_index, self.heldout_index, self.heldout_files = self._held_out(tcfg)
        avail = len(self.data) if self.train_index is None else len(self.train_index)
        n = avail if tcfg.dataset_size is None else min(tcfg.dataset_size, avail)
        self.n_data = n
        self._data_in_memory: bool | None = None  # decided by the first fit()
        if tcfg.batch_size % info.world:
            raise UserError(f"--batch-size {tcfg.batch_size} must divide evenly over {info.world} processes")
        self.steps_per_epoch = n // tcfg.batch_size
        if self.steps_per_epoch < 1:
            raise UserError(f"the dataset has {n} images, fewer than one batch of {tcfg.batch_size}; "
                            "lower --batch-size")
        limits = [tcfg.max_steps] if tcfg.max_steps else []
        if tcfg.epochs:
            limits.append(tcfg.epochs * self.steps_per_epoch)
        self.total_steps = min(limits)
        self.nets = build_nets(mcfg, tcfg, device, info)
        self.ema = GeneratorEMA(self.nets.G, tcfg.g_ema) if tcfg.g_ema else None
        self.step = 0
        self._orders: dict[int, torch.Tensor] = {}  # epoch -> its data order (see _epoch_order)
        torch.manual_seed(derived_seed(tcfg.seed, "global"))  # any global-RNG use is seeded too
        self.fixed_z = sample_z(mcfg, 64, torch.Generator().manual_seed(derived_seed(tcfg.seed, "fixed")), device)

    def _open_data(self, mcfg: ModelConfig, tcfg: TrainConfig, info: DistInfo):
        """The training set; image files are decoded once into the cache (rank 0 builds it,
        the other processes wait and open the same file)."""
        from ..data import cache

        if tcfg.dataset not in cache.DECODED or not tcfg.data_cache:
            return build_dataset(tcfg.dataset, mcfg.image_size, mcfg.nc, "train", tcfg.data_root, seed=0,
                                 bad_images=tcfg.bad_images, cached=False)
        spec = cache.Spec(tcfg.dataset, mcfg.image_size, mcfg.nc, "train", tcfg.data_root, tcfg.bad_images)
        opened = lambda: cache.decoded(spec, tcfg.data_cache_mb, tcfg.data_cache_dir,  # noqa: E731
                                       progress=info.is_main)
        if not info.enabled:
            data = opened()
        else:
            import torch.distributed as dist

            data = opened() if info.is_main else None
            dist.barrier()
            data = data if data is not None else opened()
        if data.meta.get("superseded_removed"):
            self._notes.append(f"removed the decoded cache of this source's earlier contents: "
                               f"{', '.join(data.meta['superseded_removed'])}")
        if data.skipped:
            self._notes.append(f"skipped {len(data.skipped)} unreadable images (first: {sorted(data.skipped)[0]})")
        self._notes.append(f"training images decoded once into {data.path} "
                           f"({'in memory' if data.in_memory else 'read from disk per batch'}, {len(data)} images, "
                           f"cache built in {data.meta.get('build_s', 0):.1f} s)")
        return data

    def _held_out(self, tcfg: TrainConfig):
        """(training indices or None for all, held-out indices or None, held-out files): a folder
        holds ``heldout_share`` of its images out (see :mod:`gan_viz.data.heldout`)."""
        from ..data import heldout

        if tcfg.dataset not in heldout.HELD_DATASETS or not tcfg.heldout_share:
            return None, None, []
        from ..data.folder import list_images

        root = Path(tcfg.data_root).expanduser()
        paths = list_images(root)[0]
        if len(paths) != len(self.data):
            raise UserError(f"the folder {root} lists {len(paths)} images but its decoded data holds "
                            f"{len(self.data)}; rerun, or pass --no-data-cache")
        train, held = heldout.split_indices(len(paths), tcfg.heldout_share, tcfg.seed)
        files = heldout.relative_names([paths[i] for i in held], root)
        self._notes.append(f"held out {len(held)} of the folder's {len(paths)} images (never trained on; "
                           f"listed in {self.out / 'heldout.txt'} and in every checkpoint)")
        return torch.as_tensor(train), torch.as_tensor(held), files

    def _cache_data(self) -> None:
        """Rooms are rendered on the CPU that also trains: render the training set once,
        up front, when it fits in ``data_cache_mb`` (same pixels; the loop then only indexes)."""
        n, self._data_in_memory = self.n_data, bool(getattr(self.data, "in_memory", False))
        if not hasattr(self.data, "cache"):
            return
        need = self.data.cache_bytes(n)
        if need > self.tcfg.data_cache_mb * 2 ** 20:
            log.info("rooms rendered on the fly (%d MB would exceed --data-cache-mb %d)",
                     need >> 20, self.tcfg.data_cache_mb)
            return
        t = time.perf_counter()
        self.data.cache(n, progress=self.info.is_main)
        self._data_in_memory = True
        log.info("rendered %d training rooms into memory (%d MB) in %.1f s", n, need >> 20, time.perf_counter() - t)

    # --- files --------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"

    def start_files(self, argv: list[str]) -> None:
        if not self.info.is_main:
            return
        for sub in ("checkpoints", "samples"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        _setup_logging(self.out)
        write_json(self.out / "config.json", run_record(
            "train", model=self.mcfg.to_dict(), train=self.tcfg.to_dict(), world_size=self.info.world,
            global_batch=self.tcfg.batch_size, per_process_batch=self.tcfg.batch_size // self.info.world,
            steps_per_epoch=self.steps_per_epoch, dataset_images=self.n_data, device=str(self.device),
            heldout_images=len(self.heldout_files)))
        if self.heldout_files:
            from ..io import write_text

            write_text(self.out / "heldout.txt", "".join(f"{f}\n" for f in self.heldout_files))
        path = self.out / "metrics.csv"
        rows = []
        if path.exists():  # drop rows logged after the checkpoint we resume from
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, METRICS)
            w.writeheader()
            w.writerows(rows)
        self.metrics_file = open(path, "a", newline="")
        self.metrics = csv.DictWriter(self.metrics_file, METRICS)
        self.tb = _tensorboard(self.out / "tb")

    def save(self) -> None:
        if not self.info.is_main:
            return
        n = self.nets
        payload = dict(opt_G=n.opt_G.state_dict(), opt_D=n.opt_D.state_dict(), step=self.step,
                       epoch=self.step // self.steps_per_epoch, train_config=self.train_record(),
                       rng={"torch": torch.get_rng_state()})
        if self.ema is not None:  # the generator the run's samples and exports use; "G" is the trained one
            self.sampling_G()
            payload.update(G_ema=self.ema.state_dict(), g_ema_decay=self.ema.decay)
        numbered = self.ckpt_dir / f"step_{self.step:08d}.pt"
        save_checkpoint(numbered, self.mcfg, n.G, n.D, **payload)
        save_checkpoint(self.ckpt_dir / "last.pt", self.mcfg, n.G, n.D, **payload)
        log.info("checkpoint step %d -> %s", self.step, numbered)

    def train_record(self) -> dict:
        """The training config as recorded in checkpoints, with the held-out files where any."""
        record = self.tcfg.to_dict()
        if self.heldout_files:
            from ..data.heldout import KEY

            record[KEY] = list(self.heldout_files)
        return record

    def resume(self) -> None:
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            raise UserError(f"--resume: {path} does not exist; start the run without --resume")
        ck = load_checkpoint(path)
        if ck.config != self.mcfg:
            raise UserError(f"--resume: {path} holds a different model config; use a new --out")
        from ..data.heldout import KEY

        if list((ck.train_config or {}).get(KEY) or []) != list(self.heldout_files):
            raise UserError(f"--resume: the folder {self.tcfg.data_root} changed since the run started (its "
                            "held-out images are not the recorded ones), so resuming would train on images held "
                            "out before; restore the folder or start a new run with another --out")
        n = self.nets
        n.G.load_state_dict(ck.raw["G"])
        n.D.load_state_dict(ck.raw["D"])
        n.opt_G.load_state_dict(ck.raw["opt_G"])
        n.opt_D.load_state_dict(ck.raw["opt_D"])
        if self.ema is not None:
            if "G_ema" not in ck.raw:
                raise UserError(f"--resume: {path} was trained without --g-ema, so it has no average to continue")
            self.ema.load_state_dict(ck.raw["G_ema"])
        torch.set_rng_state(ck.raw["rng"]["torch"])
        self.step = ck.step

    def sampling_G(self) -> nn.Module:
        """The generator samples come from: G's moving average (its BatchNorm statistics
        recomputed) with ``--g-ema``, else G itself (the caller switches it to eval mode)."""
        if self.ema is None:
            return self.nets.G
        return self.ema.calibrated(self.mcfg, derived_seed(self.tcfg.seed, "ema-bn"))

    @torch.no_grad()
    def write_samples(self) -> None:
        if not self.info.is_main:
            return
        G = self.sampling_G()
        G.eval()
        try:
            pics = to_uint8(G(self.fixed_z))
        finally:
            if G is self.nets.G:
                G.train()
        save_png(self.out / "samples" / f"step_{self.step:08d}.png", grid(pics, 8))

    # --- the loop -------------------------------------------------------------------
    def batch_indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.steps_per_epoch)
        b = self.tcfg.batch_size
        idx = self._epoch_order(epoch)[pos * b:(pos + 1) * b]
        idx = idx[self.info.rank::self.info.world]
        return idx if self.train_index is None else self.train_index[idx]

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """The epoch's permutation, drawn once per epoch (the current and the next are kept): a
        permutation of 3 million images (LSUN bedrooms) takes ~0.1 s, as long as a training step."""
        orders = self._orders
        if epoch not in orders:
            for old in [e for e in orders if e < epoch - 1]:
                del orders[old]
            orders[epoch] = epoch_order(self.n_data, self.tcfg.seed, epoch)
        return orders[epoch]

    def noise(self, step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(derived_seed(self.tcfg.seed, "z", step, self.info.rank))
        return sample_z(self.mcfg, self.tcfg.batch_size // self.info.world, g, self.device)

    def fit(self) -> dict:
        t, amp = self.tcfg, autocast_for(self.tcfg.precision, self.device)
        for note in self._notes:
            log.info(note)
        self._notes = []
        if self._data_in_memory is None:
            self._cache_data()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.info.is_main,
                   desc="train", unit="step", dynamic_ncols=True, mininterval=1.0, file=sys.stderr)
        pre = Prefetcher(self.data, background=not self._data_in_memory)
        acc = torch.zeros(4, device=self.device)
        t0, last = time.perf_counter(), self.step
        try:
            while self.step < self.total_steps:
                nxt = self.batch_indices(self.step + 1) if self.step + 1 < self.total_steps else None
                x = pre.get(self.batch_indices(self.step), nxt).to(self.device, non_blocking=True)
                if self.mcfg.arch == "dcgan":
                    x = x.contiguous(memory_format=torch.channels_last)
                acc += train_step(self.nets, x, self.noise(self.step), amp, self.tcfg.d_real_label)
                if self.ema is not None:
                    self.ema.update(self.nets.G)
                self.step += 1
                bar.update(1)
                if self.step % t.log_every == 0 or self.step == self.total_steps:
                    acc, t0, last = self._log(acc, t0, last, bar)
                if self.step % t.sample_every == 0:
                    self.write_samples()
                if self.step % t.checkpoint_every == 0 or self.step == self.total_steps:
                    self._check_weights()
                    self.save()
                if self.step % self.steps_per_epoch == 0 and self.quality and t.quality_every_epoch:
                    self.quality(self, self.step // self.steps_per_epoch)
                    t0 = time.perf_counter()  # images/s measures training only
        finally:
            pre.close()
            bar.close()
            if getattr(self, "tb", None) is not None:
                self.tb.flush()
        self.write_samples()
        return {"steps": self.step, "epochs": self.step / self.steps_per_epoch}

    def _log(self, acc: torch.Tensor, t0: float, last: int, bar) -> tuple:
        vals = mean_across(acc, self.info) / max(1, self.step - last)
        vals = vals.tolist()  # the one host sync per log interval
        now = time.perf_counter()
        ips = (self.step - last) * self.tcfg.batch_size / max(now - t0, 1e-9)
        bad = not all(map(lambda v: v == v and abs(v) != float("inf"), vals))
        if any_across(bad, self.info, self.device):
            raise Diverged(f"training diverged at step {self.step} (loss_D={vals[0]:.4g}, loss_G={vals[1]:.4g}); "
                           f"the last good checkpoint is {self.ckpt_dir / 'last.pt'}; lower --lr or change --seed")
        if self.info.is_main:
            row = dict(zip(METRICS, [self.step, self.step // self.steps_per_epoch, *[f"{v:.5f}" for v in vals],
                                     f"{ips:.1f}"]))
            self.metrics.writerow(row)
            self.metrics_file.flush()
            if self.tb is not None:
                for k, v in zip(METRICS[2:], vals + [ips]):
                    self.tb.add_scalar(f"train/{k}", v, self.step)
            bar.set_postfix(loss_D=f"{vals[0]:.3f}", loss_G=f"{vals[1]:.3f}", ips=f"{ips:.0f}")
            log.info("step %d loss_D %.4f loss_G %.4f D(x) %.3f D(G(z)) %.3f %.1f img/s", self.step, *vals, ips)
        return torch.zeros_like(acc), now, self.step

    def _check_weights(self) -> None:
        bad = not weights_finite(self.nets.G, self.nets.D)
        if any_across(bad, self.info, self.device):
            raise Diverged(f"training diverged at step {self.step}: non-finite weights; the last good "
                           f"checkpoint {self.ckpt_dir / 'last.pt'} was kept; lower --lr or change --seed")
