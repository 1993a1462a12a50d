"""TransNAS-Bench-101's cell-level space: both spec forms, errors that name the field,
function-class keys, parameter and FLOP counts, the benchmark's layout, builds, proxies and
the op mutation."""

from __future__ import annotations

import itertools
import json
import math
import random
import re

import pytest
import torch
from space_checks import check_deterministic, check_forward, check_proxies
from torch.utils.flop_counter import FlopCounterMode

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces.nb201 import EDGES
from zero_cost.spaces.transnas_micro import (
    OPS,
    FactorizedReduce,
    MicroCell,
    TransNasMicroArch,
    TransNasMicroSpace,
    mutate,
    random_arch,
)

SPACE = spaces.get("transnas_micro")
NARROW = spaces.get("transnas_micro", channels=4)
# The README of yawen-d/TransNASBench: "64-41414-1_02_333" is node1 = skip(node0),
# node2 = none(node0) + conv1x1(node1), node3 = conv3x3 of nodes 0, 1 and 2.
README_CELL = "64-41414-1_02_333"
README_OPS = (
    "skip_connect",
    "none",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "nor_conv_3x3",
    "nor_conv_3x3",
)
ALL = [TransNasMicroArch(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]


def key(spec: str) -> str:
    return SPACE.canonical_key(SPACE.parse(spec))


def meta_flops(space: TransNasMicroSpace, arch: TransNasMicroArch, num_classes: int) -> int:
    """torch's flop count of the network on the meta device, in eval mode (a batch of one
    reaches a 1x1 map, where training-mode batch norm has a single value per channel)."""
    with torch.device("meta"):
        model = space._build(arch, num_classes).eval()
        x = torch.empty((1, *space.input_shape(arch)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def test_registry_lists_the_space():
    assert "transnas_micro" in spaces.names()
    assert isinstance(SPACE, TransNasMicroSpace) and SPACE.channels == 64


@pytest.mark.parametrize(
    "settings", [{"channels": 0}, {"channels": 9}, {"channels": True}, {"c": 8}]
)
def test_invalid_settings_are_spec_errors(settings):
    with pytest.raises(SpecError):
        spaces.get("transnas_micro", **settings)


def test_both_spec_forms_parse_to_one_arch():
    arch = SPACE.parse(README_CELL)
    assert arch.ops == README_OPS
    assert SPACE.parse("1_02_333") == arch
    assert SPACE.parse("  64-41414-1_02_333\n") == arch
    assert arch.cell_code == "1_02_333" and arch.arch_str == README_CELL
    assert not arch.is_degenerate


def test_round_trip_over_the_whole_space():
    assert len(ALL) == 4096
    for arch in ALL:
        spec = SPACE.to_spec(arch)
        assert re.fullmatch(SPACE.spec_schema()["pattern"], spec)
        assert SPACE.parse(json.loads(json.dumps(spec))) == arch
        assert SPACE.parse(arch.cell_code) == arch


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("32-41414-1_02_333", r"base_channels: every cell-level architecture has 64, got '32'"),
        ("64-4141-1_02_333", r"skeleton: every cell-level architecture has '41414', got '4141'"),
        ("64-41414-basic", r"cell: expected 3 nodes separated by '_'"),
        ("1_02", r"cell: expected 3 nodes"),
        ("1_0_333", r"cell node 2: expected 2 op digit\(s\), one per earlier node, got '0'"),
        ("1_02_3333", r"cell node 3: expected 3 op digit\(s\)"),
        ("1_04_333", r"cell node 2: op '4' on node 1 is not a digit 0-3"),
        ("1_02_3a3", r"cell node 3: op 'a' on node 1"),
        ("64-1_02_333", r"transnas_micro spec must be '64-41414-<cell>' or the cell code"),
        ("", r"cell: expected 3 nodes"),
        ([1, 0, 2, 3, 3, 3], r"transnas_micro spec must be a string .* got list"),
    ],
)
def test_malformed_specs_name_the_fault(bad, message):
    with pytest.raises(SpecError, match=message):
        SPACE.parse(bad)


def test_canonical_key_merges_cells_of_one_function():
    # Edges into nodes that feed nothing, and edges out of zero nodes, are irrelevant.
    assert key("3_30_300") == key("0_00_300") == key("2_11_300") == key("0_03_300")
    # Sums are unordered: c1(c3(x)) + c3(c1(x)) both ways round.
    assert key("3_20_023") == key("2_30_032")
    # A skip between inner nodes is the identity in every cell.
    assert key("3_01_001") == key("3_00_010")
    # Every degenerate cell (no input-output path) is one class.
    assert key("0_00_000") == key("3_33_000") == key("0_03_030")
    assert SPACE.parse("0_03_030").is_degenerate
    # Different functions stay apart: a rescaled value, different ops.
    assert key("1_00_110") != key("0_00_100")
    assert key("0_00_300") != key("0_00_200")


def test_canonical_key_holds_both_roles_of_the_cell():
    """Out of the input of a module's first cell, skip_connect is a FactorizedReduce: a
    skip followed by a conv equals the conv alone in normal cells only."""
    assert key("1_00_030") != key("0_00_300")
    assert SPACE.parse("1_00_030").live_edges() == (0, 4)


def test_function_classes_of_the_space():
    keys = {SPACE.canonical_key(arch) for arch in ALL}
    assert len(keys) == 1229
    assert sum(arch.is_degenerate for arch in ALL) == 169


def test_identity_key_is_the_cell():
    assert SPACE.identity_key(SPACE.parse("1_02_333")) == SPACE.identity_key(
        SPACE.parse(README_CELL)
    )
    assert SPACE.identity_key(SPACE.parse("3_30_300")) != SPACE.identity_key(
        SPACE.parse("0_00_300")
    )


def test_param_count_equals_the_built_benchmark_network():
    """No published per-architecture count was found; the analytic count is checked against
    the built network at the benchmark's width (and class_scene's 47 classes)."""
    arch = SPACE.parse("64-41414-3_33_333")
    model = SPACE.build(arch, num_classes=47)
    assert SPACE.param_count(arch, num_classes=47) == sum(p.numel() for p in model.parameters())
    assert SPACE.param_count(arch, num_classes=47) == 41_435_727


def test_analytic_counts_equal_the_network():
    rng = random.Random(0)
    specs = ["0_00_000", "1_11_111", "1_02_333", "3_30_300", "2_13_021"]
    archs = [NARROW.parse(spec) for spec in specs] + [random_arch(rng) for _ in range(2)]
    for arch in archs:
        built = sum(p.numel() for p in NARROW.build(arch, num_classes=7).parameters())
        assert NARROW.param_count(arch, num_classes=7) == built, arch.cell_code
    # Degenerate, all edges live, dead edges (torch's flop counter takes 0.4 s a network).
    for arch in (archs[0], archs[2], archs[3]):
        assert NARROW.flops(arch, num_classes=7) == meta_flops(NARROW, arch, 7), arch.cell_code
    assert SPACE.flops(archs[2]) == meta_flops(SPACE, archs[2], 10)


def test_layout_follows_macro_net():
    """Stem to C/2 then C at a quarter of the side; modules 4, 1, 4, 1, 4 of two cells; the
    first cell of each '4' module strides and doubles the width on its input edges."""
    model = NARROW.build(NARROW.parse("1_02_333"))
    assert model.stem[0].out_channels == 2 and model.stem[2][1].out_channels == 4
    cells = list(model.blocks)
    assert [(c.edges["3_0"][1].in_channels, c.out_channels, c.stride) for c in cells] == [
        (4, 8, 2), (8, 8, 1), (8, 8, 1), (8, 8, 1), (8, 16, 2),
        (16, 16, 1), (16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1),
    ]  # fmt: skip
    assert isinstance(cells[0].edges["1_0"], FactorizedReduce)
    assert isinstance(cells[1].edges["1_0"], torch.nn.Identity)
    assert "2_0" not in cells[0].edges  # none holds no module
    assert model.classifier.in_features == 32
    conv = cells[9].edges["3_2"][1].weight  # Kaiming normal, fan-out: std sqrt(2 / (32 * 9))
    assert conv.std().item() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.05)


def test_cell_computes_what_the_benchmarks_cell_computes():
    """Skipping dead edges changes nothing: a forward that runs every edge, zeros for none,
    as the benchmark's MicroCell does, gives the same output."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9)
    for spec in ("1_02_333", "3_30_300", "0_13_102", "2_01_210"):
        arch = SPACE.parse(spec)
        cell = MicroCell(arch, 4, 8, 2)
        nodes = [x]
        for target in (1, 2, 3):
            total = torch.zeros(2, 8, 5, 5)
            for (source, edge_target), op in zip(EDGES, arch.ops, strict=True):
                if edge_target == target and op != "none":
                    total = total + cell.edges[f"{target}_{source}"](nodes[source])
            nodes.append(total)
        assert torch.allclose(cell(x), nodes[3], atol=1e-6), spec


def test_build_and_forward():
    model = NARROW.build(NARROW.parse(README_CELL), num_classes=10, seed=0)
    check_forward(model)


def test_degenerate_cell_outputs_the_classifier_bias():
    model = NARROW.build(NARROW.parse("0_13_000"), num_classes=5, seed=0)
    out = model(torch.randn(2, 3, 32, 32))
    assert torch.equal(out, model.classifier.bias.expand(2, 5))


def test_build_is_deterministic_for_a_seed():
    check_deterministic(NARROW, NARROW.parse("2_13_021"))


def test_proxies_run_on_the_space():
    model = NARROW.build(NARROW.parse(README_CELL), num_classes=10, seed=0)
    check_proxies(model, ["snip", "synflow", "nwot"], batch_size=4)


def test_spec_schema_is_json_schema():
    schema = SPACE.spec_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["type"] == "string"
    assert re.fullmatch(schema["pattern"], " 1_02_333 ")
    assert not re.fullmatch(schema["pattern"], "64-41414-1_02_334")


def test_random_arch_and_mutate():
    assert random_arch(random.Random(3)) == random_arch(random.Random(3))
    rng = random.Random(0)
    arch = random_arch(rng)
    mutated_edges = set()
    for _ in range(300):
        child = mutate(arch, rng)
        changed = [k for k in range(6) if child.ops[k] != arch.ops[k]]
        assert len(changed) == 1 and child.ops[changed[0]] in OPS
        mutated_edges.update(changed)
        assert SPACE.parse(SPACE.to_spec(child)) == child
        arch = child
    assert mutated_edges == set(range(6))
    drawn = {random_arch(rng).ops[0] for _ in range(100)}
    assert drawn == set(OPS)
