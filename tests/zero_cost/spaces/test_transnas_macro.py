"""TransNAS-Bench-101's macro-level space: both spec forms, the benchmark's 3,256 skeletons,
errors that name the field, keys, parameter and FLOP counts, the layout, builds, proxies and
the skeleton mutation."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest
import torch
from space_checks import check_deterministic, check_forward, check_proxies
from torch.utils.flop_counter import FlopCounterMode

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces.transnas_macro import (
    SKELETONS,
    ResNetBasicBlock,
    TransNasMacroArch,
    TransNasMacroSpace,
    mutate,
    random_arch,
)

SPACE = spaces.get("transnas_macro")
NARROW = spaces.get("transnas_macro", channels=4)


def meta_flops(space: TransNasMacroSpace, arch: TransNasMacroArch, num_classes: int) -> int:
    """torch's flop count of the network on the meta device, in eval mode (a batch of one
    can reach a 1x1 map, where training-mode batch norm has one value per channel)."""
    with torch.device("meta"):
        model = space._build(arch, num_classes).eval()
        x = torch.empty((1, *space.input_shape(arch)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def test_registry_lists_the_space():
    assert "transnas_macro" in spaces.names()
    assert isinstance(SPACE, TransNasMacroSpace) and SPACE.channels == 64


@pytest.mark.parametrize("settings", [{"channels": 0}, {"channels": 3}, {"channels": 64.0}])
def test_invalid_settings_are_spec_errors(settings):
    with pytest.raises(SpecError):
        spaces.get("transnas_macro", **settings)


def test_the_space_has_the_benchmarks_3256_skeletons():
    """3,256 macro architectures (the benchmark's README): 4-6 modules, 1-4 halvings,
    1-3 doublings."""
    assert len(SKELETONS) == len(set(SKELETONS)) == 3256
    assert Counter(map(len, SKELETONS)) == {4: 210, 5: 750, 6: 2296}
    assert {"1234", "4111", "2311"} <= set(SKELETONS)  # the README's and API example's


def test_both_spec_forms_parse_to_one_arch():
    arch = SPACE.parse("64-1234-basic")
    assert arch == TransNasMacroArch("1234") and not arch.is_degenerate
    assert SPACE.parse([1, 2, 3, 4]) == arch
    assert SPACE.parse((1, 2, 3, 4)) == arch
    assert SPACE.parse([1, 2, 3, 4, 0, 0]) == arch  # NASLib's op_indices
    assert SPACE.parse(" 64-1234-basic\n") == arch


def test_round_trip_over_the_whole_space():
    pattern = SPACE.spec_schema()["anyOf"][0]["pattern"]
    for skeleton in SKELETONS:
        arch = TransNasMacroArch(skeleton)
        spec = SPACE.to_spec(arch)
        assert spec == f"64-{skeleton}-basic" and re.fullmatch(pattern, spec)
        assert SPACE.parse(json.loads(json.dumps(spec))) == arch
        assert SPACE.parse([int(d) for d in skeleton]) == arch


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("32-1234-basic", r"base_channels: every macro-level architecture has 64, got '32'"),
        ("64-1234-bottleneck", r"block: every macro-level architecture has 'basic'"),
        ("64-41414-1_02_333", r"block: .* got '1_02_333' \(for cells use the transnas_micro"),
        ("64-1254-basic", r"skeleton\[2\]: '5' is not a module digit 1-4"),
        ("64-123-basic", r"skeleton: '123' has 3 modules; the space has 4-6"),
        ("64-1234123-basic", r"skeleton: '1234123' has 7 modules"),
        ("64-2222-basic", r"skeleton: '2222' halves the resolution 0 times .* 1-4"),
        ("64-33334-basic", r"skeleton: '33334' halves the resolution 5 times"),
        ("64-3131-basic", r"skeleton: '3131' doubles the width 0 times .* 1-3"),
        ("64-44441-basic", r"skeleton: '44441' doubles the width 4 times"),
        ("64-1234", r"transnas_macro spec must be '64-<skeleton>-basic'"),
        ([1, 2, 0, 4], r"skeleton\[2\]: 0 is not a module digit 1-4 \(zeros only as trailing"),
        ([1, 2, 3, "4"], r"skeleton\[3\]: '4' is not a module digit"),
        ([1, 2, 3, True], r"skeleton\[3\]: True is not a module digit"),
        ([1, 2, 3, 4, 0, 0, 0], r"skeleton: at most 6 entries, got 7"),
        ([1, 2, 3, 0, 0, 0], r"skeleton: '123' has 3 modules"),
        ({"skeleton": "1234"}, r"transnas_macro spec must be a string .* got dict"),
    ],
)
def test_malformed_specs_name_the_fault(bad, message):
    with pytest.raises(SpecError, match=message):
        SPACE.parse(bad)


def test_keys_are_the_normalised_string():
    keys = {SPACE.canonical_key(TransNasMacroArch(s)) for s in SKELETONS}
    assert len(keys) == len(SKELETONS)
    assert SPACE.canonical_key(SPACE.parse([4, 1, 1, 1, 0, 0])) == SPACE.canonical_key(
        SPACE.parse("64-4111-basic")
    )
    assert SPACE.identity_key(SPACE.parse("64-4111-basic")) == SPACE.canonical_key(
        SPACE.parse("64-4111-basic")
    )


@pytest.mark.parametrize("spec", ["64-4111-basic", "64-444311-basic"])
def test_param_count_equals_the_built_benchmark_network(spec):
    """No published per-architecture count was found; the analytic count is checked against
    the built network at the benchmark's width (and class_object's 75 classes)."""
    arch = SPACE.parse(spec)
    model = SPACE.build(arch, num_classes=75)
    assert SPACE.param_count(arch, num_classes=75) == sum(p.numel() for p in model.parameters())


def test_analytic_counts_equal_the_network():
    rng = random.Random(1)
    archs = [SPACE.parse(s) for s in ("64-1234-basic", "64-2311-basic", "64-111124-basic")]
    archs += [random_arch(rng) for _ in range(5)]
    for arch in archs:
        built = sum(p.numel() for p in NARROW.build(arch, num_classes=7).parameters())
        assert NARROW.param_count(arch, num_classes=7) == built, arch.skeleton
    for arch in archs[:2]:  # torch's flop counter takes 0.4 s a network
        assert NARROW.flops(arch, num_classes=7) == meta_flops(NARROW, arch, 7), arch.skeleton
    assert SPACE.flops(archs[2]) == meta_flops(SPACE, archs[2], 10)


def test_layout_follows_macro_net():
    """Modules 1, 2, 3, 4 of two basic blocks: plain, width x2, stride 2, both; the first
    block of a module that changes width or resolution has a 1x1 conv-BN shortcut."""
    model = NARROW.build(NARROW.parse("64-1234-basic"))
    assert model.stem[0].out_channels == 2 and model.stem[2][1].out_channels == 4
    blocks = list(model.blocks)
    assert all(isinstance(block, ResNetBasicBlock) for block in blocks)
    shape = [
        (b.conv_a[1].in_channels, b.conv_b[1].out_channels, b.conv_a[1].stride[0]) for b in blocks
    ]
    assert shape == [
        (4, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1),
        (8, 8, 2), (8, 8, 1), (8, 16, 2), (16, 16, 1),
    ]  # fmt: skip
    shortcuts = [not isinstance(b.downsample, torch.nn.Identity) for b in blocks]
    assert shortcuts == [False, False, True, False, True, False, True, False]
    assert blocks[6].downsample[0].stride == (2, 2)
    assert model.classifier.in_features == 16


def test_build_and_forward():
    model = NARROW.build(NARROW.parse("64-444311-basic"), num_classes=10, seed=0)
    check_forward(model)


def test_build_is_deterministic_for_a_seed():
    check_deterministic(NARROW, NARROW.parse("64-1234-basic"))


def test_proxies_run_on_the_space():
    model = NARROW.build(NARROW.parse("64-4111-basic"), num_classes=10, seed=0)
    check_proxies(model, ["snip", "synflow", "nwot"], batch_size=4)


def test_spec_schema_is_json_schema():
    schema = SPACE.spec_schema()
    assert json.loads(json.dumps(schema)) == schema
    string, array = schema["anyOf"]
    assert string["type"] == "string" and array["type"] == "array"
    assert (array["minItems"], array["maxItems"]) == (4, 6)


def test_random_arch_is_uniform_over_the_space():
    assert random_arch(random.Random(3)) == random_arch(random.Random(3))
    rng = random.Random(0)
    drawn = [random_arch(rng).skeleton for _ in range(2000)]
    assert set(drawn) <= set(SKELETONS)
    lengths = Counter(map(len, drawn))
    assert lengths[6] > lengths[5] > lengths[4] > 0  # 2296 : 750 : 210
    assert "3211" in SKELETONS  # reachable here; NASLib's sampler never draws it


def test_mutate_makes_one_valid_edit():
    rng = random.Random(0)
    arch = random_arch(rng)
    kinds = set()
    for _ in range(300):
        child = mutate(arch, rng)
        assert child.skeleton in SKELETONS and child != arch
        parent, skeleton = arch.skeleton, child.skeleton
        if len(skeleton) == len(parent):
            assert sum(a != b for a, b in zip(parent, skeleton, strict=True)) == 1
            kinds.add("change")
        else:
            longer, shorter = max(parent, skeleton, key=len), min(parent, skeleton, key=len)
            assert len(longer) == len(shorter) + 1
            assert any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))
            kinds.add("insert" if longer == skeleton else "remove")
        arch = child
    assert kinds == {"change", "insert", "remove"}
    assert all(mutate(TransNasMacroArch(s), rng).skeleton != s for s in SKELETONS)
