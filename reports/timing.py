"""How long the report's costly section will take, measured before it starts, and process CPU time."""

from __future__ import annotations

import time
from typing import Mapping


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def forget_seconds(S, options: Mapping, device: str = "cpu", segmenter: str | None = None) -> float | None:
    """An estimate of Fig. 6's seconds on ``S`` at ``options``, from one timed probe of its two costs:
    an optimisation step (``batch_size`` 32 images through G and the rooms parser, forward and backward)
    and a measurement (G and both parsers, forward, per image). None where the rooms parser does not
    measure this model (the section is then absent and costs nothing)."""
    import torch

    from gan_viz.images import area_resize
    from gan_viz.instruments import absent_reason, resolve_instrument

    if not S.has_G or (segmenter is None and absent_reason(S) is not None):
        return None
    inst = resolve_instrument(S, segmenter, device=device)  # "rooms": forced, as the section will be
    if inst is None or not inst.differentiable:
        return None
    prob = inst.concept_prob(inst.class_names.index("window"))
    size = options.get("opt_size")
    if size and size < S.image_shape[-1]:  # the section optimises on downsampled samples
        read, prob = prob, lambda x: read(area_resize(x, size))
    z = S.sample_z(32, torch.Generator().manual_seed(0))
    for _ in range(2):  # the second of two: the first pays one-off warm-up costs
        t = time.perf_counter()
        x = S.images(z).detach().requires_grad_(True)  # the optimisation backpropagates through the parser only
        torch.autograd.grad(prob(x).mean(), [x])  # as the optimisation: no weight gradients
        t_step = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        inst.segment(S.images(z))
    t_eval = 2 * (time.perf_counter() - t) / 32  # the selecting parser and the held-out judge
    fits, curve, draws = int(options["fits"]), int(options["curve_points"]), int(options["random_draws"])
    evals = fits * (curve * (1 + draws) + 1) * int(options["eval_samples"])  # removals + controls, the paper rule
    return fits * int(options["opt_steps"]) * t_step + evals * t_eval
