"""gan-viz: train GANs and audit what their filters learned (DCGAN, Radford et al. 2016)."""

__version__ = "0.1.0"

from .config import ModelConfig  # noqa: E402
from .errors import UserError  # noqa: E402

__all__ = ["ModelConfig", "UserError", "__version__"]
