"""TransNAS-Bench-101's macro-level space (Duan et al., CVPR 2021): 3,256 ResNet skeletons.

Every architecture stacks 4 to 6 modules of two ResNet basic blocks; each module is written as
a digit: ``1`` keeps width and resolution, ``2`` doubles the width, ``3`` halves the
resolution, ``4`` does both (``MacroNet`` in ``lib/models/net_infer/net_macro.py`` of
yawen-d/TransNASBench: "channel change: [2, 4]; stride change: [3, 4]"). A skeleton halves
the resolution 1 to 4 times and doubles the width 1 to 3 times, which gives the benchmark's
3,256 architectures (its README; NASLib's ``TransBench101SearchSpaceMacro`` samples within
the same bounds). The benchmark writes an architecture as ``"64-1234-basic"``: base width 64
(every macro architecture's), the skeleton and ``basic`` (the block); a list of the module
digits, ``[1, 2, 3, 4]``, is accepted too, optionally padded with zeros to six entries as
NASLib's ``op_indices`` are.

The network is the benchmark's classification model (``class_object`` and ``class_scene``:
``MacroNet(structure='backbone')`` and ``FFDecoder``), built by ``transnas_micro``'s
``TransNasNetwork`` with ``ResNetBasicblock`` as the block: the stem (3x3 stride-2 conv-BN to
C/2, 3x3 stride-2 ReLU-conv-BN to C), two blocks per module (the first with the module's
stride and width change), Kaiming-normal convolutions, global average pooling and a linear
classifier (``num_classes`` from the data). A block is ReLU-conv3x3-BN twice, added to the
input or, when the block changes width or resolution, to a 1x1 conv-BN of it. The other five
tasks' decoders are not built. The benchmark feeds 256x256 images; the network is fully
convolutional, and on our 32x32 profiles the 8x8 map after the stem reaches 1x1 after three
halvings (a fourth keeps it 1x1).

Parameter counts are analytic and equal the built network's. No published count per
architecture was found (the benchmark's ``model_params`` are in its API file, not in its
repositories), so the tests check the analytic count against the built network.

Sampling (``random_arch``) and mutation (``mutate``) are at the end of the module.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from pydantic import Field, TypeAdapter
from torch import nn

from ..layers import BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register
from .transnas_micro import (
    BASE_CHANNELS,
    TransNasNetwork,
    block_layout,
    check_channels,
    relu_conv_bn,
    stem_counts,
)

__all__ = [
    "SKELETONS",
    "ResNetBasicBlock",
    "TransNasMacroArch",
    "TransNasMacroSpace",
    "mutate",
    "random_arch",
]

CODES = "1234"
"""The module digits: 1 plain, 2 width x2, 3 resolution / 2, 4 both."""
MODULES = (4, 6)
"""The fewest and most modules."""
HALVINGS = (1, 4)
"""The fewest and most resolution halvings (digits 3 and 4)."""
DOUBLINGS = (1, 3)
"""The fewest and most width doublings (digits 2 and 4)."""
BLOCK = "basic"
_NASLIB_LENGTH = 6


def _problem(skeleton: str) -> str | None:
    """Why ``skeleton`` (digits 1-4) is outside the space, or None when it is inside."""
    halvings = sum(digit in "34" for digit in skeleton)
    doublings = sum(digit in "24" for digit in skeleton)
    if not MODULES[0] <= len(skeleton) <= MODULES[1]:
        return f"has {len(skeleton)} modules; the space has {MODULES[0]}-{MODULES[1]}"
    if not HALVINGS[0] <= halvings <= HALVINGS[1]:
        return (
            f"halves the resolution {halvings} times (digits 3 and 4); the space does "
            f"{HALVINGS[0]}-{HALVINGS[1]}"
        )
    if not DOUBLINGS[0] <= doublings <= DOUBLINGS[1]:
        return (
            f"doubles the width {doublings} times (digits 2 and 4); the space does "
            f"{DOUBLINGS[0]}-{DOUBLINGS[1]}"
        )
    return None


SKELETONS: tuple[str, ...] = tuple(
    skeleton
    for length in range(MODULES[0], MODULES[1] + 1)
    for skeleton in map("".join, itertools.product(CODES, repeat=length))
    if _problem(skeleton) is None
)
"""Every skeleton of the space (3,256), shortest first, then in digit order."""

_SPEC_SCHEMA = TypeAdapter(
    Annotated[
        str,
        Field(
            pattern=rf"^\s*{BASE_CHANNELS}-[1-4]{{4,6}}-{BLOCK}\s*$",
            description=(
                "the benchmark's string, e.g. '64-1234-basic': one digit per module, "
                "1 plain, 2 width x2, 3 resolution / 2, 4 both"
            ),
        ),
    ]
    | Annotated[
        list[Annotated[int, Field(ge=0, le=4)]],
        Field(
            min_length=MODULES[0],
            max_length=MODULES[1],
            description="the module digits, e.g. [1, 2, 3, 4]; NASLib pads them with zeros to 6",
        ),
    ]
).json_schema()


@dataclass(frozen=True)
class TransNasMacroArch:
    """One skeleton.

    Attributes:
        skeleton: one digit per module, e.g. ``"1234"``.
        is_degenerate: always False: every skeleton is a chain of residual blocks.
    """

    skeleton: str
    is_degenerate: bool = False

    @property
    def arch_str(self) -> str:
        """The benchmark's string, e.g. ``"64-1234-basic"``."""
        return f"{BASE_CHANNELS}-{self.skeleton}-{BLOCK}"


def _skeleton_from_string(spec: str) -> str:
    parts = spec.strip().split("-")
    if len(parts) != 3:
        raise SpecError(
            f"transnas_macro spec must be '{BASE_CHANNELS}-<skeleton>-{BLOCK}' like "
            f"'64-1234-basic', got {spec.strip()[:40]!r}"
        )
    base, skeleton, block = parts
    if base != str(BASE_CHANNELS):
        raise SpecError(
            f"base_channels: every macro-level architecture has {BASE_CHANNELS}, got "
            f"{base!r} (the space setting 'channels' sets the width it is built with)"
        )
    if block != BLOCK:
        raise SpecError(
            f"block: every macro-level architecture has {BLOCK!r} (ResNet basic blocks), got "
            f"{block!r} (for cells use the transnas_micro space)"
        )
    for position, digit in enumerate(skeleton):
        if digit not in CODES:
            raise SpecError(
                f"skeleton[{position}]: {digit!r} is not a module digit 1-4 (1 plain, "
                "2 width x2, 3 resolution / 2, 4 both)"
            )
    return skeleton


def _skeleton_from_list(spec: Sequence[Any]) -> str:
    if len(spec) > _NASLIB_LENGTH:
        raise SpecError(f"skeleton: at most {_NASLIB_LENGTH} entries, got {len(spec)}")
    codes = list(spec)
    while codes and type(codes[-1]) is int and codes[-1] == 0:
        codes.pop()  # NASLib's zero padding
    for position, code in enumerate(codes):
        if type(code) is not int or not 1 <= code <= 4:
            raise SpecError(
                f"skeleton[{position}]: {code!r} is not a module digit 1-4 (zeros only as "
                "trailing padding, as in NASLib's op_indices)"
            )
    return "".join(map(str, codes))


class ResNetBasicBlock(nn.Module):
    """The benchmark's ``ResNetBasicblock``: ReLU-conv3x3-BN twice (the first with the
    stride), plus the input, through a 1x1 conv-BN when width or resolution change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(in_channels, out_channels, 3, stride)
        self.conv_b = relu_conv_bn(out_channels, out_channels, 3, 1)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


@register
class TransNasMacroSpace(SearchSpace):
    """TransNAS-Bench-101's ResNet skeletons in its classification network.

    Args:
        channels: the base width C (the benchmark's is 64; narrower networks build faster).

    Raises:
        SpecError: ``channels`` is not an even integer 2-4096.
    """

    name = "transnas_macro"

    def __init__(self, *, channels: int = BASE_CHANNELS) -> None:
        self.channels = check_channels(self.name, channels)

    def parse(self, spec: Any) -> TransNasMacroArch:
        """Validate ``"64-1234-basic"`` or a list of module digits such as ``[1, 2, 3, 4]``
        (NASLib's ``[1, 2, 3, 4, 0, 0]`` too).

        Raises:
            SpecError: the message names the field at fault (``base_channels``, ``block``,
                ``skeleton[i]``, ``skeleton``).
        """
        if isinstance(spec, str):
            skeleton = _skeleton_from_string(spec)
        elif isinstance(spec, list | tuple):
            skeleton = _skeleton_from_list(spec)
        else:
            raise SpecError(
                "transnas_macro spec must be a string like '64-1234-basic' or a list of "
                f"module digits like [1, 2, 3, 4], got {type(spec).__name__}"
            )
        problem = _problem(skeleton)
        if problem is not None:
            raise SpecError(f"skeleton: {skeleton!r} {problem}")
        return TransNasMacroArch(skeleton)

    def canonical_key(self, arch: TransNasMacroArch) -> str:
        """The normalised string: different skeletons place their blocks, strides and
        widths differently, so they are different functions."""
        return hashlib.sha256(f"transnas_macro:{arch.arch_str}".encode()).hexdigest()

    def to_spec(self, arch: TransNasMacroArch) -> str:
        return arch.arch_str

    def spec_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(_SPEC_SCHEMA))

    def _build(self, arch: TransNasMacroArch, num_classes: int) -> nn.Module:
        return TransNasNetwork(arch.skeleton, self.channels, ResNetBasicBlock, num_classes)

    def param_count(self, arch: TransNasMacroArch, num_classes: int = 10) -> int:
        """Trainable parameters, counted analytically (equal to the built network's)."""
        return self._counts(arch, num_classes)[0]

    def flops(self, arch: TransNasMacroArch, num_classes: int = 10) -> int:
        """FLOPs of one sample as torch.utils.flop_counter counts them (convolutions and the
        classifier), counted analytically: after three halvings the base class's meta-device
        pass would run training-mode batch norm on one sample's 1x1 map, which torch
        refuses."""
        return self._counts(arch, num_classes)[1]

    def _counts(self, arch: TransNasMacroArch, num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs), block by block as ``TransNasNetwork`` builds the network."""
        params, flops, side = stem_counts(self.channels, self.input_shape(arch)[-1])
        layout = block_layout(arch.skeleton, self.channels)
        for in_width, width, stride in layout:
            side = (side + stride - 1) // stride
            weights = 9 * in_width * width + 9 * width * width
            params += weights + 2 * 2 * width
            if stride != 1 or in_width != width:  # the 1x1 conv-BN shortcut
                weights += in_width * width
                params += in_width * width + 2 * width
            flops += 2 * weights * side * side
        features = layout[-1][1]
        params += features * num_classes + num_classes
        return params, flops + 2 * features * num_classes


# ---------------------------------------------------------------------- search helpers


def random_arch(rng: random.Random) -> TransNasMacroArch:
    """A skeleton drawn uniformly from the 3,256 (``SKELETONS``). NASLib's sampler draws
    the module count and the numbers of halvings and doublings uniformly, then shuffles one
    fixed digit list, so it only reaches skeletons whose halvings and doublings share
    modules as much as possible (e.g. ``4111`` but never ``3211``)."""
    return TransNasMacroArch(rng.choice(SKELETONS))


def mutate(arch: TransNasMacroArch, rng: random.Random) -> TransNasMacroArch:
    """One edit of the skeleton, drawn uniformly from those that stay in the space: change
    one module's digit, insert a module (any digit, anywhere) or remove one. The child
    always differs from the parent. (NASLib's mutation redraws a whole skeleton from changed
    counts, with its sampler's gaps; see ``random_arch``.)"""
    old = arch.skeleton
    edits = {old[:i] + d + old[i + 1 :] for i in range(len(old)) for d in CODES if d != old[i]}
    edits |= {old[:i] + d + old[i:] for i in range(len(old) + 1) for d in CODES}
    edits |= {old[:i] + old[i + 1 :] for i in range(len(old))}
    valid = sorted(edit for edit in edits if _problem(edit) is None)
    return TransNasMacroArch(rng.choice(valid))
