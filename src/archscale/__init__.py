"""archscale: architecture-aware initialisation (eq. 4) and learning-rate scaling (eq. 8/9)
of "Principled Architecture-aware Scaling of Hyperparameters" (Chen et al., ICLR 2024)."""

__version__ = "0.1.0"
