"""NATS-Bench's size search space (Dong et al., TPAMI 2021): one cell, five free widths.

Every architecture has the same cell, the best NAS-Bench-201 cell on CIFAR-100::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

in the NAS-Bench-201 skeleton with one cell per stage, and differs only in the output
width of its five layers, each one of 8, 16, ..., 64 (8^5 = 32,768 architectures). The
benchmark writes an architecture as its widths joined by colons, ``"64:64:64:64:64"``; a
list of five integers is accepted too.

The network is xautodl's ``DynamicShapeTinyNet`` for that width list (what NATS-Bench's
``get_net_config`` returns, ``infer.shape.tiny``): a 3x3 conv-BN stem with ``w0``
channels, then

    cell(w0 -> w0), reduction(w0 -> w1), cell(w1 -> w2), reduction(w2 -> w3), cell(w3 -> w4)

where a reduction is the stride-2 residual block and a cell maps its input width to its
output width on the edges out of its input node (``nor_conv_3x3`` convolves across,
``skip_connect`` becomes a 1x1 conv-BN when the widths differ), then BN-ReLU, global average
pooling and a linear classifier. It is built from ``nb201``'s pieces (``NB201Network``).

Parameter counts (analytic, equal to the built network's) equal the benchmark's on CIFAR-10
(10 classes): 11,714 for ``8:8:8:8:8`` (index 0: the ``params`` of
``fake_torch_dir/NATS-sss-v1_0-50262-simple/000000.pickle.pbz2`` in D-X-Y/NATS-Bench),
49,202 for ``8:8:8:16:32`` (index 11, ``000011`` there), 144,834 for ``8:8:40:32:40``
(index 284, ``000284`` there) and 67,378 for ``8:8:8:16:40`` (index 12,
``notebooks/issue-21.ipynb`` there). The largest, ``64:64:64:64:64``, has 713,674 (no
published figure found). The benchmark's FLOPs are millions of multiply-adds plus the
classifier's bias additions, i.e. ``flops // 2 + num_classes`` here.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter
from torch import nn

from ._base import SearchSpace, SpecError
from ._registry import register
from .nb201 import NB201Arch, NB201Network

__all__ = ["CELL", "WIDTHS", "NatsSssArch", "NatsSssSpace", "mutate", "random_arch"]

WIDTHS: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
"""The width candidates of every layer."""
LAYERS = 5
CELL = NB201Arch(
    (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "nor_conv_3x3",
    )
)
"""The fixed cell (``CELL.arch_str`` is the string above)."""

_SPEC_SCHEMA = TypeAdapter(
    Annotated[
        str,
        Field(
            pattern=r"^\s*\d+(:\d+){4}\s*$",
            description="five layer widths joined by ':', e.g. '64:64:64:64:64'",
        ),
    ]
    | Annotated[
        list[Literal[WIDTHS]],
        Field(min_length=LAYERS, max_length=LAYERS, description="five layer widths"),
    ]
).json_schema()


@dataclass(frozen=True)
class NatsSssArch:
    """Five layer widths, stem and first cell first.

    Attributes:
        widths: the output width of each of the five layers.
        is_degenerate: always False: every architecture has the same, connected cell.
    """

    widths: tuple[int, ...]
    is_degenerate: bool = False

    @property
    def channel_str(self) -> str:
        """The benchmark's string, e.g. ``"64:64:64:64:64"``."""
        return ":".join(map(str, self.widths))


def _parse_width(value: Any, position: int) -> int:
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise SpecError(f"channels[{position}]: {value!r} is not an integer")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in WIDTHS:
        raise SpecError(
            f"channels[{position}]: {value!r} is not a valid width; expected one of "
            f"{', '.join(map(str, WIDTHS))}"
        )
    return value


@register
class NatsSssSpace(SearchSpace):
    """NATS-Bench's size search space (32,768 width lists around one fixed cell)."""

    name = "nats_sss"

    def parse(self, spec: Any) -> NatsSssArch:
        """Validate ``"w0:w1:w2:w3:w4"`` or ``[w0, w1, w2, w3, w4]``.

        Raises:
            SpecError: not five widths, or a width not in ``WIDTHS``; the message names the
                position (``channels[i]``).
        """
        if isinstance(spec, str):
            values: Sequence[Any] = spec.strip().split(":")
        elif isinstance(spec, list | tuple):
            values = spec
        else:
            raise SpecError(
                "nats_sss spec must be a string of five widths like '64:64:64:64:64' or a "
                f"list of five integers, got {type(spec).__name__}"
            )
        if len(values) != LAYERS:
            raise SpecError(
                f"channels: expected {LAYERS} widths (stem and cell, reduction, cell, "
                f"reduction, cell), got {len(values)}"
            )
        return NatsSssArch(tuple(_parse_width(v, i) for i, v in enumerate(values)))

    def canonical_key(self, arch: NatsSssArch) -> str:
        """The width string: different widths are different functions."""
        return hashlib.sha256(f"nats_sss:{arch.channel_str}".encode()).hexdigest()

    def to_spec(self, arch: NatsSssArch) -> str:
        return arch.channel_str

    def spec_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(_SPEC_SCHEMA))

    def _build(self, arch: NatsSssArch, num_classes: int) -> nn.Module:
        return NB201Network(CELL, arch.widths, num_classes)

    def param_count(self, arch: NatsSssArch, num_classes: int = 10) -> int:
        """Trainable parameters, counted analytically (equal to the built network's)."""
        return self._counts(arch, num_classes)[0]

    def flops(self, arch: NatsSssArch, num_classes: int = 10) -> int:
        """FLOPs of one sample as torch.utils.flop_counter counts them (convolutions and the
        classifier), counted analytically (equal to the base class's meta-device count)."""
        return self._counts(arch, num_classes)[1]

    def _counts(self, arch: NatsSssArch, num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs), layer by layer as ``NB201Network`` builds the network."""
        side, width = self.input_shape(arch)[-1], arch.widths[0]
        params = 3 * 9 * width + 2 * width  # stem conv + BN
        flops = 2 * 3 * 9 * width * side * side
        for layer, out in enumerate(arch.widths):
            if layer % 2:  # reduction: 3x3 stride-2 and 3x3 conv-BN, 1x1 shortcut conv
                side //= 2
                weights = 9 * width * out + 9 * out * out + width * out
                params += weights + 2 * 2 * out
            else:  # the cell: two 3x3 conv-BN out of its input, three inside, the skip
                reshape = width != out  # skip_connect is then a 1x1 conv-BN
                weights = 2 * 9 * width * out + 3 * 9 * out * out + reshape * width * out
                params += weights + (5 + reshape) * 2 * out
            flops += 2 * weights * side * side
            width = out
        params += 2 * width + width * num_classes + num_classes  # last BN, classifier
        return params, flops + 2 * width * num_classes


def random_arch(rng: random.Random) -> NatsSssArch:
    """A uniformly random architecture: each width uniform over ``WIDTHS``."""
    return NatsSssArch(tuple(rng.choice(WIDTHS) for _ in range(LAYERS)))


def mutate(arch: NatsSssArch, rng: random.Random) -> NatsSssArch:
    """Replace one random layer's width with a different candidate (the size space's
    counterpart of an op mutation; the child always differs from the parent)."""
    widths = list(arch.widths)
    layer = rng.randrange(LAYERS)
    widths[layer] = rng.choice([w for w in WIDTHS if w != widths[layer]])
    return NatsSssArch(tuple(widths))
