"""Tests of the NAS-Bench-101 search space (``zero_cost.spaces.nb101``)."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces.nb101 import INTERIOR_OPS, NB101Arch, NB101Space

CONV3, CONV1, POOL = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

# The Inception-like cell of the NAS-Bench-101 README.
INCEPTION = {
    "matrix": [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "ops": ["input", CONV1, CONV3, CONV3, CONV3, POOL, "output"],
}


@pytest.fixture
def space() -> NB101Space:
    space = spaces.get("nb101")
    assert isinstance(space, NB101Space)
    return space


@pytest.fixture
def records(shared_data: Path) -> list[dict[str, Any]]:
    """The 100 reference cells of ``nb101_dev.json`` (skips when the file is absent)."""
    path = shared_data / "nb101_dev.json"
    if not path.is_file():
        pytest.skip(f"../shared/data/nb101_dev.json not found: expected at {path}")
    with path.open() as f:
        return json.load(f)


def _spec(record: dict[str, Any]) -> dict[str, Any]:
    return {"matrix": record["matrix"], "ops": record["ops"]}


def _relabel(spec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The spec with its interior vertices put in a random topological order."""
    matrix, ops = spec["matrix"], spec["ops"]
    n = len(ops)
    order = [0]
    remaining = set(range(1, n - 1))
    while remaining:
        ready = sorted(v for v in remaining if not any(matrix[u][v] for u in remaining))
        vertex = rng.choice(ready)
        order.append(vertex)
        remaining.remove(vertex)
    order.append(n - 1)
    return {
        "matrix": [[matrix[u][v] for v in order] for u in order],
        "ops": [ops[v] for v in order],
    }


def _isomorphic(a: NB101Arch, b: NB101Arch) -> bool:
    """Brute force: some relabelling of b's interior vertices turns it into a."""
    n = len(a.ops)
    if len(b.ops) != n:
        return False
    for interior in itertools.permutations(range(1, n - 1)):
        order = (0, *interior, n - 1)
        if all(a.ops[i] == b.ops[order[i]] for i in range(n)) and all(
            a.matrix[i][j] == b.matrix[order[i]][order[j]] for i in range(n) for j in range(n)
        ):
            return True
    return False


# --- exactness against the benchmark -------------------------------------------------


def test_param_counts_match_reference(space: NB101Space, records: list[dict[str, Any]]) -> None:
    assert len(records) == 100
    counts = [space.param_count(space.parse(_spec(record))) for record in records]
    mismatches = [
        (i, count, record["params"])
        for i, (count, record) in enumerate(zip(counts, records, strict=True))
        if count != record["params"]
    ]
    assert mismatches == []


@pytest.mark.parametrize("index", [0, 1, 3, 10])
def test_real_build_param_count(
    space: NB101Space, records: list[dict[str, Any]], index: int
) -> None:
    record = records[index]
    model = space.build(space.parse(_spec(record)), num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == record["params"]


def test_reference_cells_round_trip(space: NB101Space, records: list[dict[str, Any]]) -> None:
    for record in records:
        arch = space.parse(_spec(record))
        again = space.parse(space.to_spec(arch))
        assert again == arch
        assert space.canonical_key(again) == space.canonical_key(arch)
        assert space.parse(json.dumps(_spec(record))) == arch


def test_equal_keys_have_equal_params(space: NB101Space, records: list[dict[str, Any]]) -> None:
    params_by_key: dict[str, int] = {}
    for record in records:
        key = space.canonical_key(space.parse(_spec(record)))
        assert params_by_key.setdefault(key, record["params"]) == record["params"]


# --- pruning -------------------------------------------------------------------------


def test_dangling_vertex_is_pruned(space: NB101Space) -> None:
    # Vertex 2 reaches nothing but itself: it lies on no input-output path.
    spec = {
        "matrix": [
            [0, 1, 1, 0],
            [0, 0, 0, 1],
            [0, 0, 0, 0],
            [0, 0, 0, 0],
        ],
        "ops": ["input", CONV3, POOL, "output"],
    }
    pruned = {"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", CONV3, "output"]}
    arch = space.parse(spec)
    assert arch == space.parse(pruned)
    assert space.to_spec(arch) == pruned
    assert space.canonical_key(arch) == space.canonical_key(space.parse(pruned))
    assert not arch.is_degenerate


def test_vertex_unreachable_from_input_is_pruned(space: NB101Space) -> None:
    spec = {
        "matrix": [
            [0, 0, 1, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 1],
            [0, 0, 0, 0],
        ],
        "ops": ["input", CONV1, CONV3, "output"],
    }
    assert space.to_spec(space.parse(spec)) == {
        "matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]],
        "ops": ["input", CONV3, "output"],
    }


def test_edge_limit_applies_after_pruning(space: NB101Space) -> None:
    # 10 edges as written, but the 5 into the dead-end vertex 5 go with it: 5 remain.
    spec = {
        "matrix": [
            [0, 1, 0, 0, 0, 1, 0],
            [0, 0, 1, 0, 0, 1, 0],
            [0, 0, 0, 1, 0, 1, 0],
            [0, 0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        "ops": ["input", CONV3, CONV3, CONV1, POOL, CONV3, "output"],
    }
    assert sum(map(sum, space.parse(spec).matrix)) == 5
    # 11 edges, all on input-output paths.
    too_many = [[0] * 7 for _ in range(7)]
    for u, v in [(0, 1), (0, 2), (0, 3), (0, 6), (1, 2), (1, 6), (2, 3), (2, 6), (3, 4), (4, 5)]:
        too_many[u][v] = 1
    too_many[5][6] = 1
    with pytest.raises(SpecError, match="11 edges"):
        space.parse({"matrix": too_many, "ops": spec["ops"]})


# --- canonical key -------------------------------------------------------------------


def test_key_invariant_under_relabelling(space: NB101Space) -> None:
    rng = random.Random(0)
    key = space.canonical_key(space.parse(INCEPTION))
    for _ in range(20):
        relabelled = _relabel(INCEPTION, rng)
        assert space.canonical_key(space.parse(relabelled)) == key


def test_reference_keys_invariant_under_relabelling(
    space: NB101Space, records: list[dict[str, Any]]
) -> None:
    rng = random.Random(1)
    for record in records:
        key = space.canonical_key(space.parse(_spec(record)))
        for _ in range(3):
            assert space.canonical_key(space.parse(_relabel(_spec(record), rng))) == key


def test_different_cells_have_different_keys(space: NB101Space) -> None:
    chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    parallel = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    cells = [
        {"matrix": chain, "ops": ["input", CONV3, CONV1, "output"]},
        {"matrix": chain, "ops": ["input", CONV1, CONV3, "output"]},
        {"matrix": parallel, "ops": ["input", CONV1, CONV3, "output"]},
        {"matrix": parallel, "ops": ["input", CONV3, CONV3, "output"]},
        {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]},
        INCEPTION,
    ]
    keys = [space.canonical_key(space.parse(cell)) for cell in cells]
    assert len(set(keys)) == len(keys)
    assert all(len(key) == 64 and int(key, 16) >= 0 for key in keys)


@st.composite
def small_cells(draw: st.DrawFn) -> dict[str, Any]:
    """Random upper-triangular cells of 2 to 6 vertices (possibly disconnected)."""
    n = draw(st.integers(2, 6))
    matrix = [[draw(st.integers(0, 1)) if j > i else 0 for j in range(n)] for i in range(n)]
    interior = [draw(st.sampled_from(INTERIOR_OPS)) for _ in range(n - 2)]
    return {"matrix": matrix, "ops": ["input", *interior, "output"]}


def _parse_or_none(space: NB101Space, spec: Any) -> NB101Arch | None:
    try:
        return space.parse(spec)
    except SpecError:
        return None


@settings(max_examples=300, deadline=None)
@given(a=small_cells(), b=small_cells(), seed=st.integers(0, 2**32 - 1))
def test_keys_equal_exactly_for_isomorphic_cells(
    a: dict[str, Any], b: dict[str, Any], seed: int
) -> None:
    space = NB101Space()
    arch_a, arch_b = _parse_or_none(space, a), _parse_or_none(space, b)
    if arch_a is not None:
        relabelled = space.parse(_relabel(a, random.Random(seed)))
        assert space.canonical_key(relabelled) == space.canonical_key(arch_a)
    if arch_a is not None and arch_b is not None:
        same_key = space.canonical_key(arch_a) == space.canonical_key(arch_b)
        assert same_key == _isomorphic(arch_a, arch_b)


# --- validation ----------------------------------------------------------------------


def _with(matrix: Any = None, ops: Any = None) -> dict[str, Any]:
    """A valid 4-vertex spec with its matrix or ops replaced."""
    spec: dict[str, Any] = {
        "matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
        "ops": ["input", CONV3, POOL, "output"],
    }
    if matrix is not None:
        spec["matrix"] = matrix
    if ops is not None:
        spec["ops"] = ops
    return spec


_LOWER = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0]]
_SELF_LOOP = [[0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
_EIGHT = [[0] * 8 for _ in range(8)]


@pytest.mark.parametrize(
    ("spec", "culprit"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ([1, 2], "expected an object"),
        (None, "expected an object"),
        ({"ops": ["input", "output"]}, "missing key 'matrix'"),
        ({"matrix": [[0, 1], [0, 0]]}, "missing key 'ops'"),
        ({**_with(), "params": 3}, "unknown key 'params'"),
        (_with(matrix="0110"), "matrix: expected a list of rows"),
        (_with(matrix=[[0]]), "matrix: must have 2 to 7 rows"),
        (_with(matrix=_EIGHT), "matrix: must have 2 to 7 rows (vertices), got 8"),
        (_with(matrix=[[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 1], [0, 0, 0, 0]]), "matrix[2]:"),
        (_with(matrix=[[0, 1, 1, 0], 5, [0, 0, 0, 1], [0, 0, 0, 0]]), "matrix[1]: expected"),
        (_with(matrix=[[0, 1, 0.5, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4]), "matrix[0][2]"),
        (_with(matrix=[[0, 1, 1, 0], [0, 0, 0, 2], [0, 0, 0, 1], [0] * 4]), "matrix[1][3]"),
        (_with(matrix=[[0, "1", 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4]), "matrix[0][1]"),
        (_with(matrix=[[0, 1, 1, 0], [0, 0, 0, None], [0, 0, 0, 1], [0] * 4]), "matrix[1][3]"),
        (_with(matrix=[[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 10**5000], [0] * 4]), "matrix[2][3]"),
        (_with(matrix=[[0, 1, 1, math.nan], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4]), "matrix[0][3]"),
        (_with(matrix=_LOWER), "matrix[2][1]: must be 0 on and below the diagonal"),
        (_with(matrix=_SELF_LOOP), "matrix[1][1]"),
        (_with(ops="input"), "ops: expected a list"),
        (_with(ops=["input", CONV3, "output"]), "ops: expected 4 entries"),
        (_with(ops=["input", CONV3, 7, "output"]), "ops[2]: expected an op name"),
        (_with(ops=["in", CONV3, POOL, "output"]), "ops[0]: must be 'input'"),
        (_with(ops=["input", CONV3, POOL, CONV1]), "ops[3]: must be 'output'"),
        (_with(ops=["input", "conv5x5", POOL, "output"]), "ops[1]: unknown op 'conv5x5'"),
        (_with(ops=["input", "output", POOL, "output"]), "ops[1]: unknown op 'output'"),
        (_with(matrix=[[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0] * 4]), "no path"),
        ({"matrix": [[0, 0], [0, 0]], "ops": ["input", "output"]}, "no path"),
    ],
)
def test_validation_errors_name_the_culprit(space: NB101Space, spec: Any, culprit: str) -> None:
    with pytest.raises(SpecError) as info:
        space.parse(spec)
    assert culprit in str(info.value)


def test_bools_and_tuples_are_accepted(space: NB101Space) -> None:
    spec = {
        "matrix": ((False, True, True), (False, False, True), (False, False, False)),
        "ops": ("input", CONV1, "output"),
    }
    arch = space.parse(spec)
    assert arch.matrix == ((0, 1, 1), (0, 0, 1), (0, 0, 0))
    assert space.to_spec(arch) == {
        "matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]],
        "ops": ["input", CONV1, "output"],
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"stem_channels": 0},
        {"num_stacks": -1},
        {"cells_per_stack": 1.5},
        {"stem_channels": True},
        {"stem_channels": 16, "colour": "red"},
    ],
)
def test_invalid_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        spaces.get("nb101", **bad)


def test_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        NB101Space(16)  # type: ignore[misc]


def test_spec_schema(space: NB101Space) -> None:
    schema = space.spec_schema()
    assert set(schema["required"]) == {"matrix", "ops"}
    assert schema["properties"]["matrix"]["type"] == "array"
    assert schema["properties"]["ops"]["items"]["type"] == "string"
    json.dumps(schema)


# --- robustness: anything that is not a valid spec raises SpecError only ----------------

_json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=60,
)
_entries = st.one_of(
    st.integers(0, 1),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=3),
    st.none(),
    _json_like,
)
_op_names = st.one_of(st.sampled_from(["input", "output", *INTERIOR_OPS]), _json_like)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_random_text_raises_only_spec_error(text: str) -> None:
    _parse_or_none(NB101Space(), text)


@settings(max_examples=200, deadline=None)
@given(value=_json_like)
def test_random_structures_raise_only_spec_error(value: Any) -> None:
    space = NB101Space()
    _parse_or_none(space, value)
    _parse_or_none(space, json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(
    spec=st.one_of(
        small_cells(),
        st.fixed_dictionaries(
            {
                "matrix": st.one_of(
                    st.lists(st.lists(_entries, max_size=8), max_size=8),
                    small_cells().map(lambda cell: cell["matrix"]),
                    _json_like,
                ),
                "ops": st.one_of(st.lists(_op_names, max_size=8), _json_like),
            }
        ),
    )
)
def test_random_matrix_and_ops_raise_only_spec_error(spec: dict[str, Any]) -> None:
    space = NB101Space()
    arch = _parse_or_none(space, spec)
    if arch is not None:
        assert space.parse(space.to_spec(arch)) == arch


# --- the network ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        INCEPTION,
        {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]},
        # input feeds the output directly as well as through vertices of unequal width
        {
            "matrix": [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
            "ops": ["input", CONV3, POOL, "output"],
        },
    ],
)
def test_forward_shape(space: NB101Space, spec: dict[str, Any]) -> None:
    model = space.build(space.parse(spec), num_classes=10)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_flops_positive(space: NB101Space) -> None:
    assert space.flops(space.parse(INCEPTION)) > 0


def test_build_is_deterministic() -> None:
    space = spaces.get("nb101", stem_channels=16, num_stacks=2, cells_per_stack=1)
    arch = space.parse(INCEPTION)
    first = space.build(arch, seed=3).state_dict()
    second = space.build(arch, seed=3).state_dict()
    other = space.build(arch, seed=4).state_dict()
    assert first.keys() == second.keys() == other.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_vertex_channels_follow_nasbench(space: NB101Space) -> None:
    # 128 output channels over the 3 vertices feeding the output (1, 2, 4): 43, 43, 42;
    # vertex 3 feeds only vertex 4, so it takes vertex 4's width.
    spec = {
        "matrix": [
            [0, 1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0],
        ],
        "ops": ["input", CONV1, CONV3, CONV3, POOL, "output"],
    }
    cell = space.build(space.parse(spec)).cells[0]
    assert cell.vertex_channels == [128, 43, 43, 42, 42, 128]
