"""gan-viz toy: a GAN small enough to see, MLPs on 1-D / 2-D Gaussian mixtures, and the optimal D.

Goodfellow et al. (2014) argue with a 1-D picture (their Figure 1): the data density
p_data, the generator's density p_g and the discriminator D(x), which for a fixed G is
best at D*(x) = p_data(x) / (p_data(x) + p_g(x)) and equals 1/2 where p_g = p_data.
Here the data densities are known in closed form (``data.py``), p_g is estimated from many
G samples (binned Gaussian KDE, ``density.py``), so D can be checked against D*.

The same run is repeated with the other generator loss (seed 003, eq. 1, is the
*saturating* ``min log(1 - D(G(z)))``; the paper and the trainer use the
*non-saturating* ``min -log D(G(z))``), from the same seed, to compare the two
(``train.py``). With D = sigmoid(a) the gradient on the logit a is -D (saturating:
vanishes when D rejects the fakes) and -(1 - D) (non-saturating: largest exactly then).

Distances to p_data (``measures.py``): exact 1-Wasserstein between equal-size sample sets
in 1-D, sliced 1-Wasserstein (32 fixed directions) in 2-D. Modes: a sample is *high quality*
when within 3 standard deviations of its nearest mixture component; a mode is *covered* when
it holds at least 20% of its fair share (n / modes) of high-quality samples.

Public API: :func:`compute_toy` (a data name and seed in, :class:`ToyResult` out), the data,
density, training and measuring functions, ``FIGURES`` (``plot.py``), :func:`summary_of`, :func:`line`. It is
not a registered analysis: ``run.py`` holds what ``gan-viz toy`` calls.
"""

from .compute import ToyResult, compute_toy
from .data import DATASETS, ToyData, get_data
from .density import (SUPPORT, d_star, density_grid, grid_axis, kde_kernel_std, kde_on_grid, kde_variance,
                      support_mask)
from .measures import COVER_SHARE, HQ_SIGMAS, N_SLICES, distance, mode_stats
from .plot import FIGURES, plot_d_star, plot_g_loss, plot_modes, plot_training
from .summary import line, summary_of
from .train import (G_LOSSES, N_DENSITY, N_EVAL, Z_DIM, ToyTrace, d_loss_of, d_on_grid, fit_discriminator,
                    g_loss_of, mlp, train_toy)

__all__ = ["ToyResult", "compute_toy", "DATASETS", "ToyData", "get_data", "SUPPORT", "d_star", "density_grid",
           "grid_axis", "kde_kernel_std", "kde_on_grid", "kde_variance", "support_mask", "COVER_SHARE",
           "HQ_SIGMAS", "N_SLICES", "distance", "mode_stats", "FIGURES", "plot_d_star", "plot_g_loss",
           "plot_modes", "plot_training", "line", "summary_of", "G_LOSSES", "N_DENSITY", "N_EVAL", "Z_DIM",
           "ToyTrace", "d_loss_of", "d_on_grid", "fit_discriminator", "g_loss_of", "mlp", "train_toy"]
