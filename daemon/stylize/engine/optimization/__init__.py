"""The optimisation method (Gatys et al., VGG19): engine only, UI-agnostic.

Not reachable by users yet: the daemon, gRPC API, CLI and GIMP dialog are wired to it
later (issue 7, items 2-6), so README.md does not describe it; ARCHITECTURE.md does.
"""

from stylize.engine.optimization.memory import estimate_bytes, largest_fitting_size
from stylize.engine.optimization.method import (
    OptimizationEngine,
    OptimizeOptions,
    OptimizeProgress,
)
from stylize.engine.optimization.optimizers import LossTerms

__all__ = [
    "LossTerms",
    "OptimizationEngine",
    "OptimizeOptions",
    "OptimizeProgress",
    "estimate_bytes",
    "largest_fitting_size",
]
