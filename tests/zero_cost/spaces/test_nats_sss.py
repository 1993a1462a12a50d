"""NATS-Bench's size search space: specs, keys, the benchmark's parameter and FLOP counts,
builds, proxies and the width mutation."""

from __future__ import annotations

import json
import random

import pytest
import torch
from space_checks import check_deterministic, check_forward, check_proxies

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces._base import SearchSpace
from zero_cost.spaces.nats_sss import CELL, WIDTHS, NatsSssArch, NatsSssSpace, mutate, random_arch
from zero_cost.spaces.nb201 import Cell, NB201Arch

SPACE = spaces.get("nats_sss")

# (widths, index in the benchmark, params and FLOPs in millions on CIFAR-10) from
# D-X-Y/NATS-Bench: the records in fake_torch_dir/NATS-sss-v1_0-50262-simple (indices 0, 11,
# 284) and notebooks/create-query-sss.ipynb + issue-21.ipynb (index 12).
PUBLISHED = [
    ("8:8:8:8:8", 0, 0.011714, 4.481114),
    ("8:8:8:16:32", 11, 0.049202, 6.84065),
    ("8:8:8:16:40", 12, 0.067378, 7.991706),
    ("8:8:40:32:40", 284, 0.144834, 21.827994),
]


def test_registry_lists_the_space():
    assert "nats_sss" in spaces.names()
    assert isinstance(SPACE, NatsSssSpace)
    assert CELL.arch_str == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )


def test_both_spec_forms_parse_to_one_arch():
    arch = SPACE.parse("8:16:24:32:64")
    assert arch == NatsSssArch((8, 16, 24, 32, 64))
    assert SPACE.parse([8, 16, 24, 32, 64]) == arch
    assert SPACE.parse((8, 16, 24, 32, 64)) == arch
    assert SPACE.parse(" 8:16: 24:32:64 ") == arch
    assert not arch.is_degenerate


def test_round_trip():
    for widths in [(8,) * 5, (64,) * 5, (8, 64, 16, 56, 24)]:
        arch = NatsSssArch(widths)
        assert SPACE.to_spec(arch) == ":".join(map(str, widths))
        assert SPACE.parse(json.loads(json.dumps(SPACE.to_spec(arch)))) == arch


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("8:8:12:8:8", r"channels\[2\]: 12 is not a valid width; expected one of 8, 16, 24"),
        ([8, 8, 8, 8, 72], r"channels\[4\]: 72 is not a valid width"),
        ([8, 8, 8, 8, 8.0], r"channels\[4\]: 8.0 is not a valid width"),
        ([True, 8, 8, 8, 8], r"channels\[0\]: True is not a valid width"),
        ("8:8:a:8:8", r"channels\[2\]: 'a' is not an integer"),
        ("8:8:-8:8:8", r"channels\[2\]: '-8' is not an integer"),
        ("8:8:8:8", r"channels: expected 5 widths .*, got 4"),
        ([8] * 6, r"channels: expected 5 widths .*, got 6"),
        ("", r"channels: expected 5 widths .*, got 1"),
        ({"channels": "8:8:8:8:8"}, r"nats_sss spec must be a string .* got dict"),
    ],
)
def test_malformed_specs_name_the_fault(bad, message):
    with pytest.raises(SpecError, match=message):
        SPACE.parse(bad)


def test_canonical_key_is_the_width_list():
    keys = {SPACE.canonical_key(random_arch(random.Random(seed))) for seed in range(300)}
    archs = {random_arch(random.Random(seed)) for seed in range(300)}
    assert len(keys) == len(archs)
    assert SPACE.canonical_key(SPACE.parse("8:8:8:8:16")) != SPACE.canonical_key(
        SPACE.parse("16:8:8:8:8")
    )
    assert SPACE.identity_key(SPACE.parse([8] * 5)) == SPACE.canonical_key(SPACE.parse("8:8:8:8:8"))


@pytest.mark.parametrize(("widths", "index", "params_m", "flops_m"), PUBLISHED)
def test_counts_equal_the_benchmark(widths, index, params_m, flops_m):
    """NATS-Bench counts parameters in millions, and FLOPs as millions of multiply-adds plus
    the classifier's bias additions (10); torch's counter counts 2 FLOPs per multiply-add."""
    arch = SPACE.parse(widths)
    assert SPACE.param_count(arch) == round(params_m * 1e6)
    assert SPACE.flops(arch) // 2 + 10 == round(flops_m * 1e6)


@pytest.mark.parametrize(("widths", "params"), [("8:8:8:8:8", 11_714), ("64:64:64:64:64", 713_674)])
def test_extremes_match_the_built_network(widths, params):
    arch = SPACE.parse(widths)
    model = SPACE.build(arch)
    assert SPACE.param_count(arch) == sum(p.numel() for p in model.parameters()) == params


def test_analytic_counts_equal_the_built_network():
    rng = random.Random(2)
    archs = [SPACE.parse("8:64:8:64:8"), SPACE.parse("64:8:64:8:64")]
    archs += [random_arch(rng) for _ in range(4)]
    for arch in archs:
        built = sum(p.numel() for p in SPACE.build(arch, num_classes=7).parameters())
        assert SPACE.param_count(arch, num_classes=7) == built
        assert SPACE.flops(arch, num_classes=7) == SearchSpace.flops(SPACE, arch, num_classes=7)


def test_layout_follows_dynamic_shape_tiny_net():
    """Stem and first cell at w0, reductions to w1 and w3, cells from w1 to w2 and from w3 to
    w4: the first edges of those cells change the width (skip_connect as a 1x1 conv-BN)."""
    model = SPACE.build(SPACE.parse("8:16:24:32:40"))
    assert model.stem[0].out_channels == 8
    cells = list(model.cells)
    assert [type(block).__name__ for block in cells] == [
        "Cell",
        "ResidualReduction",
        "Cell",
        "ResidualReduction",
        "Cell",
    ]
    assert isinstance(cells[0].edges["3_0"], torch.nn.Identity)
    assert cells[2].edges["1_0"][1].in_channels == 16
    assert cells[2].edges["1_0"][1].out_channels == 24
    skip = cells[2].edges["3_0"]
    assert isinstance(skip[0], torch.nn.Conv2d) and skip[0].kernel_size == (1, 1)
    assert (skip[0].in_channels, skip[0].out_channels) == (16, 24)
    assert cells[3].conv_a[1].in_channels == 24 and cells[3].conv_a[1].out_channels == 32
    assert model.classifier.in_features == 40


def test_cells_map_input_to_output_width_for_every_op():
    """nb201's Cell with different input and output widths, as xautodl's InferCell: the
    edges out of node 0 change the width (pooling after a 1x1 ReLU-conv-BN, skip_connect as
    a 1x1 conv-BN), the others keep it; a cell with no path outputs zeros of the new width."""
    cin, cout = 4, 6
    arch = NB201Arch(
        ("avg_pool_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "none", "none")
    )
    cell = Cell(arch, cin, cout)
    expected = (
        (cin * cout + 2 * cout)  # 0->1 avg_pool: 1x1 ReLU-conv-BN first
        + (cin * cout + 2 * cout)  # 0->2 skip_connect: 1x1 conv-BN
        + (cout * cout + 2 * cout)  # 1->2 nor_conv_1x1
        + (9 * cin * cout + 2 * cout)  # 0->3 nor_conv_3x3
    )
    assert sum(p.numel() for p in cell.parameters()) == expected
    assert cell(torch.randn(2, cin, 8, 8)).shape == (2, cout, 8, 8)
    dead = Cell(NB201Arch(("nor_conv_3x3",) + ("none",) * 5), cin, cout)
    assert torch.equal(dead(torch.randn(2, cin, 8, 8)), torch.zeros(2, cout, 8, 8))


def test_build_and_forward():
    model = SPACE.build(SPACE.parse("8:16:24:32:40"), num_classes=10, seed=0)
    check_forward(model)


def test_build_is_deterministic_for_a_seed():
    check_deterministic(SPACE, SPACE.parse("16:8:24:8:32"))


def test_proxies_run_on_the_space():
    model = SPACE.build(SPACE.parse("8:8:16:8:16"), num_classes=10, seed=0)
    check_proxies(model, ["snip", "grad_norm", "synflow", "nwot"], batch_size=8)


def test_spec_schema_is_json_schema():
    schema = SPACE.spec_schema()
    assert json.loads(json.dumps(schema)) == schema
    string, array = schema["anyOf"]
    assert string["type"] == "string" and array["items"]["enum"] == list(WIDTHS)


def test_random_arch_and_mutate():
    rng = random.Random(0)
    assert random_arch(random.Random(3)) == random_arch(random.Random(3))
    arch = random_arch(rng)
    changed_layers = set()
    for _ in range(200):
        assert all(w in WIDTHS for w in arch.widths) and len(arch.widths) == 5
        child = mutate(arch, rng)
        changed = [i for i in range(5) if child.widths[i] != arch.widths[i]]
        assert len(changed) == 1 and child.widths[changed[0]] in WIDTHS
        changed_layers.update(changed)
        assert SPACE.parse(SPACE.to_spec(child)) == child
        arch = child
    assert changed_layers == set(range(5))
