"""DARTS: both spec forms, errors that name the field, canonical keys, faithful parameter
counts, builds, proxies and the regularized-evolution mutation."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from space_checks import check_deterministic, check_forward, check_proxies

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces._base import SearchSpace
from zero_cost.spaces.darts import (
    CELLS,
    OPS,
    SAMPLED_OPS,
    DartsArch,
    DartsSpace,
    mutate,
    random_arch,
)

SPACE = spaces.get("darts")
SMALL = spaces.get("darts", channels=8, layers=5)
TINY = spaces.get("darts", channels=4, layers=5)

# DARTS_V2 as the DARTS code's genotypes.py writes it.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
V2_NORMAL = [
    ["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
    ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2],
]  # fmt: skip
V2_REDUCE = [
    ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
    ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1],
]  # fmt: skip
V2_JSON: dict[str, Any] = {"normal": V2_NORMAL, "reduce": V2_REDUCE}
ALL_NONE = [["none", k // 2 % 2] for k in range(8)]


def spec(normal: list | None = None, reduce: list | None = None) -> dict[str, Any]:
    return {"normal": normal or V2_NORMAL, "reduce": reduce or V2_REDUCE}


def with_pair(cell: list, k: int, pair: list) -> list:
    return [pair if i == k else p for i, p in enumerate(cell)]


def relabelled(pairs: tuple, rng: random.Random) -> list:
    """The cell with its intermediate nodes renumbered in a random topological order."""
    remaining, order = {2, 3, 4, 5}, []
    while remaining:
        ready = [
            n for n in sorted(remaining) if all(s < 2 or s in order for _, s in pairs_of(pairs, n))
        ]
        order.append(rng.choice(ready))
        remaining.discard(order[-1])
    new = {old: position + 2 for position, old in enumerate(order)}
    new |= {0: 0, 1: 1}
    cell = []
    for old in order:
        node_pairs = [[op, new[s]] for op, s in pairs_of(pairs, old)]
        rng.shuffle(node_pairs)
        cell.extend(node_pairs)
    return cell


def pairs_of(pairs: tuple, node: int) -> tuple:
    return pairs[2 * (node - 2) : 2 * (node - 2) + 2]


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_space():
    assert "darts" in spaces.names()
    assert isinstance(SPACE, DartsSpace)
    assert (SPACE.channels, SPACE.layers) == (36, 20)


@pytest.mark.parametrize(
    "settings", [{"channels": 0}, {"layers": 0}, {"layers": True}, {"channels": 1.5}, {"c": 3}]
)
def test_invalid_settings_are_spec_errors(settings):
    with pytest.raises(SpecError):
        spaces.get("darts", **settings)


# ---------------------------------------------------------------------------- parsing


def test_both_spec_forms_parse_to_one_arch():
    arch = SPACE.parse(V2_JSON)
    assert SPACE.parse(DARTS_V2) == arch
    assert SPACE.parse(DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")) == arch
    assert SPACE.parse(json.dumps(V2_JSON)) == arch
    assert SPACE.parse({**V2_JSON, "normal_concat": [2, 3, 4, 5], "reduce_concat": [2, 3, 4, 5]})
    assert arch.normal[7] == ("dil_conv_3x3", 2) and arch.reduce[0] == ("max_pool_3x3", 0)


def test_round_trips():
    arch = SPACE.parse(DARTS_V2)
    spec_ = SPACE.to_spec(arch)
    assert spec_["normal_concat"] == spec_["reduce_concat"] == [2, 3, 4, 5]
    assert SPACE.parse(json.loads(json.dumps(spec_))) == arch
    assert SPACE.parse(arch.genotype) == arch
    assert arch.genotype == DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec(with_pair(V2_NORMAL, 3, ["conv_3x3", 1])), r"normal\[3\]: unknown op 'conv_3x3'"),
        (
            spec(reduce=with_pair(V2_REDUCE, 6, ["max_pool_3x3", 5])),
            r"reduce\[6\]: input 5 is out of range; pair 6 feeds node 5, which reads nodes 0-4",
        ),
        (spec(with_pair(V2_NORMAL, 1, ["sep_conv_3x3", 2])), r"normal\[1\]: input 2 .* nodes 0-1"),
        (spec(with_pair(V2_NORMAL, 4, ["sep_conv_3x3", -1])), r"normal\[4\]: input -1"),
        (spec(with_pair(V2_NORMAL, 4, ["sep_conv_3x3", True])), r"normal\[4\]: input True"),
        (spec(with_pair(V2_NORMAL, 4, ["sep_conv_3x3", "1"])), r"normal\[4\]: input '1'"),
        (
            spec(with_pair(V2_NORMAL, 2, ["sep_conv_3x3"])),
            r"normal\[2\]: expected an \[op, input\]",
        ),
        (spec(V2_NORMAL[:6]), r"normal: expected 8 \[op, input\] pairs .*, got 6"),
        (spec(reduce=V2_REDUCE * 2), r"reduce: expected 8 .*, got 16"),
        ({**V2_JSON, "normal_concat": [2, 3, 4]}, r"normal_concat: must be \[2, 3, 4, 5\]"),
        ({**V2_JSON, "reduce_concat": "2345"}, r"reduce_concat: must be"),
        (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(6)"), "reduce_concat"),
        ({"normal": V2_NORMAL}, r"spec: missing key 'reduce'"),
        ({**V2_JSON, "extra": 1}, r"spec: unknown key 'extra'"),
        ("not json", r"spec: neither a Genotype\(\.\.\.\) string nor valid JSON"),
        (42, r"spec: expected an object"),
        ("Genotype(normal=[('sep_conv_3x3', 0)", r"spec: not a valid Genotype string"),
        ("Genotype([], [2, 3, 4, 5], [], [2, 3, 4, 5])", r"name every Genotype field"),
        (
            DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=__import__('os')"),
            r"normal_concat: not a literal list",
        ),
        ("Genotype(normal=[], reduce=[])", r"normal: expected 8 .*, got 0"),
    ],
)
def test_malformed_specs_name_the_fault(bad, message):
    with pytest.raises(SpecError, match=message):
        SPACE.parse(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        json_values,
        st.builds(lambda v: {**V2_JSON, "normal": v}, json_values),
        st.text(max_size=80).map(lambda t: "Genotype(" + t),
    )
)
def test_parse_raises_only_spec_error(value):
    try:
        SPACE.parse(value)
    except SpecError:
        pass


# ---------------------------------------------------------------------- function classes


def test_pair_order_is_spelling():
    swapped = [V2_NORMAL[1], V2_NORMAL[0], *V2_NORMAL[2:6], V2_NORMAL[7], V2_NORMAL[6]]
    first, second = SPACE.parse(V2_JSON), SPACE.parse(spec(swapped))
    assert first != second
    assert SPACE.identity_key(first) == SPACE.identity_key(second)
    assert SPACE.canonical_key(first) == SPACE.canonical_key(second)


def test_relabelled_nodes_share_the_canonical_key_only():
    rng = random.Random(0)
    for _ in range(150):
        arch = random_arch(rng)
        if rng.random() < 0.5:  # some none ops too
            arch = DartsArch(
                tuple(("none", s) if rng.random() < 0.3 else (o, s) for o, s in arch.normal),
                arch.reduce,
            )
        other = SPACE.parse(
            {"normal": relabelled(arch.normal, rng), "reduce": relabelled(arch.reduce, rng)}
        )
        assert SPACE.canonical_key(other) == SPACE.canonical_key(arch)
    # One case spelled out: nodes 2 and 3 swap places, so node 5 reads node 3.
    moved = with_pair(V2_NORMAL, 7, ["dil_conv_3x3", 3])
    first, second = SPACE.parse(V2_JSON), SPACE.parse(spec(moved))
    assert SPACE.canonical_key(first) == SPACE.canonical_key(second)
    assert SPACE.identity_key(first) != SPACE.identity_key(second)


def test_identity_and_zero_terms_vanish():
    # Node 3 is node 2 (skip plus none), so reading node 3 is reading node 2.
    base = [
        ["sep_conv_3x3", 0], ["sep_conv_5x5", 1], ["skip_connect", 2], ["none", 0],
        ["sep_conv_3x3", 3], ["skip_connect", 1], ["max_pool_3x3", 0], ["dil_conv_3x3", 4],
    ]  # fmt: skip
    via_node_2 = with_pair(with_pair(base, 3, ["none", 1]), 4, ["sep_conv_3x3", 2])
    assert SPACE.canonical_key(SPACE.parse(spec(base))) == SPACE.canonical_key(
        SPACE.parse(spec(via_node_2))
    )
    # An op on a zero node vanishes, whatever the op (and its parameter count).
    zero_node = [["none", 0], ["none", 1], ["sep_conv_3x3", 2], ["skip_connect", 0]]
    rest = [["max_pool_3x3", 0], ["sep_conv_3x3", 3], ["dil_conv_5x5", 1], ["skip_connect", 4]]
    other = with_pair(zero_node, 2, ["max_pool_3x3", 2])
    first, second = SPACE.parse(spec(zero_node + rest)), SPACE.parse(spec(other + rest))
    assert SPACE.canonical_key(first) == SPACE.canonical_key(second)
    assert SPACE.param_count(first) != SPACE.param_count(second)


def test_shared_and_duplicated_nodes_differ():
    """Convolving node 2 twice is not convolving node 2 and node 3, although nodes 2 and 3
    look alike: node 3 has weights of its own."""
    common = [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1]]
    node_4 = [["sep_conv_3x3", 2], ["skip_connect", 0]]
    shared = SPACE.parse(spec(common + node_4 + [["sep_conv_3x3", 2], ["skip_connect", 0]]))
    separate = SPACE.parse(spec(common + node_4 + [["sep_conv_3x3", 3], ["skip_connect", 0]]))
    assert SPACE.canonical_key(shared) != SPACE.canonical_key(separate)


def test_poolings_of_one_node_are_one_value():
    """Pooling has no weights: node 5 pooling node 2 again equals node 5 copying node 4."""
    common = [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_5x5", 0], ["dil_conv_3x3", 2]]
    node_4 = [["max_pool_3x3", 2], ["skip_connect", 0]]
    pooled_again = spec(common + node_4 + [["max_pool_3x3", 2], ["skip_connect", 0]])
    copied = spec(common + node_4 + [["skip_connect", 4], ["none", 1]])
    first, second = SPACE.parse(pooled_again), SPACE.parse(copied)
    assert SPACE.canonical_key(first) == SPACE.canonical_key(second)
    with_conv = spec(common + node_4 + [["sep_conv_3x3", 2], ["skip_connect", 0]])
    assert SPACE.canonical_key(SPACE.parse(with_conv)) != SPACE.canonical_key(first)


def test_different_functions_have_different_keys():
    v1, v2 = SPACE.parse(DARTS_V1), SPACE.parse(DARTS_V2)
    assert SPACE.canonical_key(v1) != SPACE.canonical_key(v2)
    swapped_cells = SPACE.parse({"normal": V2_REDUCE, "reduce": V2_NORMAL})
    assert SPACE.canonical_key(swapped_cells) != SPACE.canonical_key(v2)
    # In a reduction cell skip_connect on a cell input is a FactorizedReduce, not identity.
    pooled = with_pair(V2_REDUCE, 5, ["max_pool_3x3", 2])
    assert SPACE.canonical_key(SPACE.parse(spec(reduce=pooled))) != SPACE.canonical_key(v2)
    keys = {SPACE.canonical_key(random_arch(random.Random(seed))) for seed in range(200)}
    assert len(keys) == 200


def test_degenerate_networks_are_flagged_and_share_one_key():
    dead_normal = [SPACE.parse(spec(ALL_NONE)), SPACE.parse(spec(ALL_NONE, V2_NORMAL))]
    assert all(arch.is_degenerate for arch in dead_normal)
    assert len({SPACE.canonical_key(arch) for arch in dead_normal}) == 1
    assert not SPACE.parse(V2_JSON).is_degenerate
    assert SPACE.canonical_key(dead_normal[0]) != SPACE.canonical_key(SPACE.parse(V2_JSON))
    # A normal cell reading only node 0 around an all-zero reduction cell: whether a path
    # survives depends on the depth (it hops over the zero cells two at a time).
    first_input_only = [
        ["sep_conv_3x3", 0], ["none", 1], ["sep_conv_3x3", 2], ["none", 1],
        ["skip_connect", 0], ["none", 1], ["max_pool_3x3", 3], ["none", 1],
    ]  # fmt: skip
    genotype = spec(first_input_only, ALL_NONE)
    assert spaces.get("darts", layers=20).parse(genotype).is_degenerate
    assert not spaces.get("darts", layers=6).parse(genotype).is_degenerate
    # The normal cell reading both inputs keeps a path around the zero reduction cells.
    assert not SPACE.parse(spec(reduce=ALL_NONE)).is_degenerate


def test_degenerate_network_outputs_a_constant():
    space = spaces.get("darts", channels=2, layers=4)
    arch = space.parse(spec(ALL_NONE))
    assert arch.is_degenerate
    out = space.build(arch).eval()(torch.randn(3, 3, 32, 32))
    assert torch.allclose(out, out[:1].expand_as(out))


# ------------------------------------------------------------------- counts and builds


def test_darts_v2_has_the_published_parameter_count():
    """3,349,342 at C=36, 20 cells, 10 classes, auxiliary head excluded (DARTS's
    ``count_parameters_in_MB``, the "3.3M" of the paper)."""
    arch = SPACE.parse(DARTS_V2)
    assert SPACE.param_count(arch) == 3_349_342
    assert sum(p.numel() for p in SPACE.build(arch).parameters()) == 3_349_342
    assert SPACE.flops(arch) == 1_056_718_080  # 528M multiply-adds


def test_analytic_counts_equal_the_built_network():
    rng = random.Random(3)
    cases = [(SPACE.parse(V2_JSON), 5), (SPACE.parse(spec(ALL_NONE)), 4)]
    cases += [(SPACE.parse(spec(reduce=ALL_NONE)), layers) for layers in (1, 2, 3)]
    for layers in (1, 2, 5, 7):
        arch = random_arch(rng)
        none_heavy = tuple(("none", s) if rng.random() < 0.4 else (o, s) for o, s in arch.reduce)
        cases += [(arch, layers), (DartsArch(arch.normal, none_heavy), layers)]
    for arch, layers in cases:
        space = spaces.get("darts", channels=4, layers=layers)
        built = sum(p.numel() for p in space.build(arch, num_classes=7).parameters())
        assert space.param_count(arch, num_classes=7) == built
        assert space.flops(arch, num_classes=7) == SearchSpace.flops(space, arch, num_classes=7)


def test_build_and_forward():
    model = SMALL.build(SMALL.parse(DARTS_V2), num_classes=10, seed=0)
    check_forward(model)


def test_build_is_deterministic_for_a_seed():
    check_deterministic(TINY, TINY.parse(DARTS_V2))


def test_proxies_run_on_the_space():
    model = TINY.build(TINY.parse(DARTS_V2), num_classes=10, seed=0)
    check_proxies(model, ["snip", "grad_norm", "synflow", "nwot"], batch_size=8)


def test_spec_schema_is_json_schema():
    schema = SPACE.spec_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert "anyOf" in schema
    assert set(schema["$defs"]["DartsSpec"]["properties"]) == {
        "normal",
        "normal_concat",
        "reduce",
        "reduce_concat",
    }


# ------------------------------------------------------------------ regularized evolution


def test_random_arch_samples_the_nb301_space():
    rng = random.Random(0)
    for _ in range(200):
        arch = random_arch(rng)
        assert SPACE.parse(SPACE.to_spec(arch)) == arch
        assert not arch.is_degenerate
        for cell in CELLS:
            pairs = getattr(arch, cell)
            assert all(op in SAMPLED_OPS for op, _ in pairs)
            for k in range(0, 8, 2):
                assert pairs[k][1] < pairs[k + 1][1]  # two distinct inputs, in order
    assert random_arch(random.Random(4)) == random_arch(random.Random(4))
    assert "none" not in SAMPLED_OPS and set(SAMPLED_OPS) < set(OPS)


def test_mutate_changes_one_op_or_one_input():
    rng = random.Random(1)
    kinds = set()
    arch = random_arch(rng)
    for _ in range(300):
        child = mutate(arch, rng)
        assert SPACE.parse(SPACE.to_spec(child)) == child
        changed = [
            (cell, k)
            for cell in CELLS
            for k in range(8)
            if getattr(child, cell)[k] != getattr(arch, cell)[k]
        ]
        assert len(changed) == 1
        cell, k = changed[0]
        (old_op, old_in), (new_op, new_in) = getattr(arch, cell)[k], getattr(child, cell)[k]
        kinds.add("op" if new_op != old_op else "input")
        assert (new_op == old_op) != (new_in == old_in)
        assert new_op in SAMPLED_OPS or new_op == old_op
        assert new_in != getattr(child, cell)[k ^ 1][1]  # still two distinct inputs
        if k < 2:
            assert new_in == old_in  # the first node can only read nodes 0 and 1
        arch = child
    assert kinds == {"op", "input"}
    parent = SPACE.parse(V2_JSON)
    assert mutate(parent, random.Random(9)) == mutate(parent, random.Random(9))
    assert mutate(spaces.get("darts", layers=6).parse(V2_JSON), rng).layers == 6
