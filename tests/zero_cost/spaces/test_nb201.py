"""NAS-Bench-201: parsing, canonical keys, degenerate cells and faithful builds."""

import csv
import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from zero_cost import spaces
from zero_cost.spaces._base import SearchSpace
from zero_cost.spaces.nb201 import OPS, NB201Arch

SPACE = spaces.get("nb201")
ALL_CONV3 = (
    "|" + "|+|".join("|".join(f"nor_conv_3x3~{i}" for i in range(node)) for node in (1, 2, 3)) + "|"
)
ALL_CELLS = [NB201Arch(ops) for ops in itertools.product(OPS, repeat=6)]


def benchmark_unique_str(ops: tuple[str, ...]) -> str:
    """The benchmark's own isomorphism rule (``Structure.to_unique_str(consider_zero=True)``
    of the official NAS-Bench-201 code), re-stated here as the reference for the 6466 count."""
    nodes, k = {0: "0"}, 0
    for target in (1, 2, 3):
        terms = []
        for source in range(target):
            op = ops[k]
            k += 1
            if op == "none" or nodes[source] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[source])
            else:
                terms.append(f"({nodes[source]})@{op}")
        nodes[target] = "+".join(sorted(terms))
    return nodes[3]


def test_registry_lists_the_space():
    assert "nb201" in spaces.names()
    with pytest.raises(KeyError, match="known: "):
        spaces.get("nb999")


def test_all_conv3x3_cell_has_the_official_parameter_count():
    arch = SPACE.parse(ALL_CONV3)
    assert SPACE.param_count(arch) == 1_531_546
    assert sum(p.numel() for p in SPACE.build(arch).parameters()) == 1_531_546


def test_reference_parameter_counts(shared_data):
    rows = list(csv.DictReader(open(shared_data / "nb201_dev.csv")))
    assert len(rows) == 400
    for row in rows:
        arch = SPACE.parse(row["arch_str"])
        assert SPACE.param_count(arch) == round(float(row["params_m"]) * 1e6), row["arch_str"]
        assert SPACE.to_spec(arch) == row["arch_str"]


def test_benchmark_rule_gives_6466_classes_and_keys_coarsen_it():
    """The benchmark counts 6466 classes with its rule, which is a sufficient condition for
    equal functions. Our key is the exact functional rule (sums flattened through
    skip_connect, any op on a zero node vanishes, all degenerate cells one key): each of the
    benchmark's classes lies inside one of ours, and ours has 4930 classes."""
    benchmark_classes: dict[str, set[str]] = {}
    for arch in ALL_CELLS:
        benchmark_classes.setdefault(benchmark_unique_str(arch.ops), set()).add(
            SPACE.canonical_key(arch)
        )
    assert len(benchmark_classes) == 6466
    assert all(len(keys) == 1 for keys in benchmark_classes.values())
    assert len({SPACE.canonical_key(arch) for arch in ALL_CELLS}) == 4930


def test_degenerate_cells_share_one_key_and_are_flagged():
    degenerate = [arch for arch in ALL_CELLS if arch.is_degenerate]
    assert len(degenerate) == 341  # the benchmark's count of cells with no input-output path
    assert len({SPACE.canonical_key(arch) for arch in degenerate}) == 1
    healthy_keys = {SPACE.canonical_key(a) for a in ALL_CELLS if not a.is_degenerate}
    assert SPACE.canonical_key(degenerate[0]) not in healthy_keys


def test_identity_keys_tell_every_cell_apart_and_ignore_spelling():
    """One identity per cell (15,625), whatever the canonical key merges; a cell string and
    the NASLib tuple of the same cell have one identity."""
    assert len({SPACE.identity_key(arch) for arch in ALL_CELLS}) == 15_625
    cell = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    from_string, from_tuple = SPACE.parse(cell), SPACE.parse(list(SPACE.parse(cell).naslib_tuple))
    assert SPACE.identity_key(from_string) == SPACE.identity_key(from_tuple)
    # Two cells of one function class: one canonical key, two identities, two param counts.
    first = SPACE.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    second = SPACE.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert SPACE.canonical_key(first) == SPACE.canonical_key(second)
    assert SPACE.identity_key(first) != SPACE.identity_key(second)
    assert SPACE.param_count(first) != SPACE.param_count(second)


def test_degenerate_cell_builds_and_outputs_a_constant():
    arch = SPACE.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert arch.is_degenerate
    model = SPACE.build(arch).eval()
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10)
    assert torch.allclose(out, out[:1].expand_as(out))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # none edges vanish; an op on a zero node vanishes
        (
            "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
            "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
        ),
        # an edge into a node that feeds nothing contributes nothing
        (
            "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
        ),
        # addition commutes; skip_connect inlines its source
        (
            "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|",
            "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        ),
    ],
)
def test_functionally_equal_cells_share_a_key(first, second):
    assert SPACE.canonical_key(SPACE.parse(first)) == SPACE.canonical_key(SPACE.parse(second))


def test_different_functions_have_different_keys():
    specs = [
        "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|",
        "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|",
        "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|",  # 2x
        "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",  # x
    ]
    assert len({SPACE.canonical_key(SPACE.parse(spec)) for spec in specs}) == 4


def test_naslib_tuple_conversion():
    expected = (
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    arch = SPACE.parse((0, 2, 3, 2, 3, 1))
    assert arch.arch_str == expected
    assert SPACE.parse([0, 2, 3, 2, 3, 1]) == SPACE.parse(expected)
    assert arch.naslib_tuple == (0, 2, 3, 2, 3, 1)
    for ops in itertools.islice(itertools.product(range(5), repeat=6), 0, None, 97):
        assert SPACE.parse(ops).naslib_tuple == ops


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '|'"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", "3 nodes"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from node 0"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "'op~index'"),
        ([0, 1, 2], "6 entries"),
        ([0, 1, 2, 3, 4, 5], "entry 5 must be an integer 0-4"),
        ([0, 1, 2, 3, 4, True], "entry 5"),
        ({"arch": "x"}, "got dict"),
        (None, "got NoneType"),
    ],
)
def test_malformed_specs_name_the_fault(spec, message):
    with pytest.raises(spaces.SpecError, match=message.replace("|", r"\|").replace("(", r"\(")):
        SPACE.parse(spec)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
cell_like_text = st.lists(
    st.sampled_from([*OPS, "~", "|", "+", "0", "1", "2", "3", "~0", "x", " "]), max_size=30
).map("".join)


@given(json_values | cell_like_text | st.text())
def test_parse_raises_only_spec_error(spec):
    try:
        SPACE.parse(spec)
    except spaces.SpecError:
        pass


def test_build_is_deterministic_for_a_seed():
    arch = SPACE.parse(ALL_CONV3)
    first, again, other = (SPACE.build(arch, seed=s).state_dict() for s in (7, 7, 8))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point())


def test_build_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SPACE.build(SPACE.parse(ALL_CONV3), seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("num_classes", [10, 100])
def test_forward_shape_and_settings(num_classes):
    small = spaces.get("nb201", channels=8, cells_per_stage=1)
    model = small.build(small.parse(ALL_CONV3), num_classes=num_classes)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, num_classes)


def test_invalid_settings_are_spec_errors():
    with pytest.raises(spaces.SpecError, match="channels"):
        spaces.get("nb201", channels=0)
    with pytest.raises(spaces.SpecError, match="invalid settings"):
        spaces.get("nb201", width=3)


def test_flops_without_allocating():
    arch = SPACE.parse(ALL_CONV3)
    # torch.utils.flop_counter counts a multiply-add as 2 FLOPs; the benchmark's 222.86 M
    # counts multiply-adds and also BN/pooling terms.
    assert SPACE.flops(arch) == 440_239_360


def test_spec_schema_is_json_schema():
    schema = SPACE.spec_schema()
    assert "anyOf" in schema


@pytest.mark.parametrize("settings", [{}, {"channels": 8, "cells_per_stage": 2}])
def test_analytic_counts_equal_the_built_network(settings):
    """param_count and flops are analytic (fast enough for bulk submissions); they must
    agree with counting a network built on the meta device."""
    space = spaces.get("nb201", **settings)
    for arch in ALL_CELLS[::211]:
        for num_classes in (10, 100):
            assert space.param_count(arch, num_classes) == SearchSpace.param_count(
                space, arch, num_classes
            )
            assert space.flops(arch, num_classes) == SearchSpace.flops(space, arch, num_classes)
