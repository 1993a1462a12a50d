"""zero_cost: training-free scoring of neural architectures.

The science library: search spaces (``zero_cost.spaces``) and, built on them,
zero-cost proxies. Importable without any web or database dependency.
"""

from .engine import ScoreResult, score

__version__ = "0.2.0"

__all__ = ["ScoreResult", "score"]
