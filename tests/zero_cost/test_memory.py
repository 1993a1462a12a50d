"""zero_cost.memory: the device-memory estimate from parameter and activation counts."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from zero_cost import memory, spaces
from zero_cost.search import OPERATORS

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def _measured_activations(model: nn.Module, shape: tuple[int, ...]) -> int:
    total = 0

    def count(module, inputs, output):
        nonlocal total
        total += output[0].numel()

    for leaf in (m for m in model.modules() if not list(m.children())):
        leaf.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros((2, *shape)))
    return total


def test_activation_count_matches_the_built_network():
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    arch = space.parse(CELL)
    built = _measured_activations(space.build(arch), space.input_shape(arch))
    assert space.activation_count(arch) == built > 0


def test_large_networks_are_counted_on_the_meta_device(monkeypatch):
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    arch = space.parse(CELL)
    on_cpu = space.activation_count(arch)
    monkeypatch.setattr(spaces._base, "SMALL_PARAMS", 0)
    assert space.activation_count(arch) == on_cpu


def test_estimate_is_parameters_and_activations_times_their_copies():
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    arch = space.parse(CELL)
    one, two = memory.estimate(space, arch, 8), memory.estimate(space, arch, 16)
    assert one.parameter_bytes == space.param_count(arch) * 4 * 4
    assert one.activation_bytes == space.activation_count(arch) * 8 * 3 * 4
    assert two.activation_bytes == 2 * one.activation_bytes
    assert two.parameter_bytes == one.parameter_bytes
    assert one.total_bytes == one.parameter_bytes + one.activation_bytes


def test_format_bytes():
    assert memory.format_bytes(512) == "512 B"
    assert memory.format_bytes(1536) == "1.5 KiB"
    assert memory.format_bytes(3 * 1024**3) == "3.0 GiB"


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_searchable_space_counts_its_activations(name):
    space = spaces.get(name)
    arch = OPERATORS[name].random_arch(random.Random(0))
    assert space.activation_count(arch) > 0
