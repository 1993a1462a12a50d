"""How much device memory scoring one architecture needs, estimated before building it.

The estimate is what the six-proxy bundle (``benchmarks/speed.py``) can hold at once,
in float32, from two counts the search space gives without allocating the network:

* parameters (``SearchSpace.param_count``) x 4 copies: the weights, their gradients, and
  two more of the same size (SynFlow's signed weights or GraSP's first-order gradients, and
  GraSP's Hessian-gradient product);
* activations per sample (``SearchSpace.activation_count``) x batch size x 3: the outputs
  kept for the backward pass, their gradients, and GraSP's second backward through a graph
  built with ``create_graph``.

It is a planning figure for refusing what cannot fit, not a measurement: the allocator's
caching and cuDNN workspaces come on top. ``benchmarks/gpu.py`` prints measured peaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .spaces import SearchSpace

BYTES_PER_ELEMENT = 4  # float32
PARAMETER_COPIES = 4
ACTIVATION_COPIES = 3


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated bytes of device memory for scoring one architecture on one batch."""

    parameter_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def estimate(
    space: SearchSpace, arch: Any, batch_size: int, num_classes: int = 10
) -> MemoryEstimate:
    """The device memory scoring ``arch`` on a batch of ``batch_size`` needs (see above)."""
    params = space.param_count(arch, num_classes)
    activations = space.activation_count(arch, num_classes)
    return MemoryEstimate(
        parameter_bytes=params * PARAMETER_COPIES * BYTES_PER_ELEMENT,
        activation_bytes=activations * batch_size * ACTIVATION_COPIES * BYTES_PER_ELEMENT,
    )


def format_bytes(count: int) -> str:
    """``count`` bytes for people: '1.4 GiB', '312.0 MiB', '512 B'."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
