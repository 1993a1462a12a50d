"""``zero_cost.prune.masks`` and ``masks_from_scores``: targets, scopes, schedule, tie-breaking,
determinism, and that the model is left as it was."""

from __future__ import annotations

import pytest
import torch
from proxy_support import X4, Y4, mlp
from prune_support import batch, small_vgg

from zero_cost import prune
from zero_cost.prune._registry import _REGISTRY, register
from zero_cost.prune.schedule import keep_fractions
from zero_cost.prune.select import select

METHODS = ["snip", "grasp", "synflow", "magnitude", "random"]
NAMES = [
    "layers.0.weight", "layers.4.weight", "layers.8.weight", "layers.11.weight", "layers.15.weight"
]  # fmt: skip


def _masks(model, method, **kwargs):
    data = batch()
    return prune.masks(model, method, inputs=data.inputs, targets=data.targets, **kwargs)


def test_registry_lists_the_five_methods():
    assert prune.names() == sorted(METHODS)
    assert prune.get("synflow").iterations == 100
    assert all(prune.get(name).iterations == 1 for name in METHODS if name != "synflow")
    assert prune.get("snip").needs_labels and prune.get("grasp").needs_labels
    assert prune.get("synflow").needs_inputs and not prune.get("synflow").needs_labels
    with pytest.raises(KeyError, match="known: grasp, magnitude"):
        prune.get("obd")


@pytest.mark.parametrize("method", METHODS)
def test_one_bool_mask_per_conv_linear_weight_at_the_exact_global_count(method):
    model = small_vgg()
    masks = _masks(model, method, iterations=3 if method == "synflow" else None, sparsity=0.9)
    assert list(masks) == NAMES
    for name, mask in masks.items():
        assert mask.dtype == torch.bool
        assert mask.shape == model.get_parameter(name).shape
    summary = prune.summarize(masks)
    assert summary.total == 108 + 1152 + 18432 + 36864 + 640
    assert summary.kept == round(0.1 * summary.total)


@pytest.mark.parametrize("method", ["snip", "magnitude", "random"])
def test_layerwise_keeps_the_same_fraction_of_every_layer(method):
    masks = _masks(small_vgg(), method, compression=10, scope="layerwise")
    for layer in prune.summarize(masks).layers:
        assert layer.kept == round(layer.total / 10)


def test_compression_and_sparsity_are_the_same_target():
    model = small_vgg()
    assert_equal_masks(_masks(model, "snip", compression=4), _masks(model, "snip", sparsity=0.75))
    assert prune.density(compression=1000) == pytest.approx(1e-3)
    assert prune.density(sparsity=0.0) == 1.0


def test_exponential_schedule():
    fractions = keep_fractions(0.01, 4)
    assert fractions == pytest.approx([0.01**0.25, 0.01**0.5, 0.01**0.75, 0.01])
    assert fractions[-1] == 0.01
    assert keep_fractions(0.5, 1) == [0.5]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_and_inputs_give_the_same_masks(method):
    iterations = 4 if method in ("synflow", "snip") else None
    first = _masks(small_vgg(), method, compression=30, iterations=iterations, seed=3)
    torch.manual_seed(123)  # the global RNG plays no part
    second = _masks(small_vgg(), method, compression=30, iterations=iterations, seed=3)
    assert_equal_masks(first, second)


def test_random_masks_follow_the_seed():
    model = small_vgg()
    one, two = (_masks(model, "random", compression=10, seed=seed) for seed in (1, 2))
    assert any(not torch.equal(one[name], two[name]) for name in one)


def test_ties_keep_the_earlier_weights():
    model = mlp()
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(0.5)
    masks = prune.masks(model, "magnitude", sparsity=0.5)  # 20 weights, 12 + 8: keep 10
    assert masks["0.weight"].flatten().tolist() == [True] * 10 + [False] * 2
    assert not masks["2.weight"].any()
    layerwise = prune.masks(model, "magnitude", sparsity=0.5, scope="layerwise")
    assert layerwise["2.weight"].flatten().tolist() == [True] * 4 + [False] * 4


def test_nan_scores_rank_lowest():
    scores = {"a.weight": torch.tensor([float("nan"), 1.0, -5.0, 2.0])}
    masks = prune.masks_from_scores(scores, sparsity=0.5)
    assert masks["a.weight"].tolist() == [False, True, False, True]


def test_select_keeps_only_weights_still_kept():
    scores = [torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])]
    within = [torch.tensor([False, True, False, True, True, True])]
    (mask,) = select(scores, 0.5, "global", within=within)
    assert mask.tolist() == [False, True, False, True, True, False]


def test_each_round_scores_the_current_masks_and_only_removes_weights():
    seen: list[list[torch.Tensor] | None] = []

    def recording(network):
        generator = torch.Generator().manual_seed(0)

        def score_round(masks):
            seen.append(None if masks is None else [m.clone() for m in masks])
            return [torch.randn(w.shape, generator=generator) for w in network.weights]

        return score_round

    register("test_recording", iterations=4)(recording)
    try:
        final = prune.masks(small_vgg(), "test_recording", compression=100)
    finally:
        del _REGISTRY["test_recording"]
    assert len(seen) == 4 and seen[0] is None
    rounds = [*seen[1:], list(final.values())]
    total = prune.summarize(final).total
    schedule = keep_fractions(0.01, 4)
    for previous, current, fraction in zip([None, *rounds], rounds, schedule, strict=False):
        assert sum(int(m.sum()) for m in current) == round(fraction * total)
        if previous is not None:
            assert all(not (c & ~p).any() for p, c in zip(previous, current, strict=True))


def test_more_magnitude_rounds_give_the_same_masks():
    model = small_vgg()
    assert_equal_masks(
        _masks(model, "magnitude", compression=100, iterations=3),
        _masks(model, "magnitude", compression=100),
    )


@pytest.mark.parametrize("method", ["snip", "grasp", "synflow"])
def test_the_model_is_left_as_it_was(method):
    model = small_vgg()
    model.train()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    _masks(model, method, compression=10, iterations=2)
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert all(p.grad is None for p in model.parameters())


def test_scoring_runs_in_eval_mode():
    # In eval mode BatchNorm uses its running statistics, so SNIP's scores equal those of the
    # model put in eval mode by hand, and differ from train mode's.
    model, data = small_vgg(), batch()
    scores = prune.scores(model, "snip", inputs=data.inputs, targets=data.targets)
    model.eval()
    loss = torch.nn.functional.cross_entropy(model(data.inputs), data.targets)
    weight = model.get_parameter(NAMES[1])
    (grad,) = torch.autograd.grad(loss, [weight])
    torch.testing.assert_close(scores[NAMES[1]], (weight * grad).abs().detach())
    model.train()
    loss = torch.nn.functional.cross_entropy(model(data.inputs), data.targets)
    (grad,) = torch.autograd.grad(loss, [weight])
    assert not torch.allclose(scores[NAMES[1]], (weight * grad).abs().detach())


def test_invalid_requests_say_what_is_wrong():
    model, data = mlp(), (torch.tensor(X4, dtype=torch.float32), torch.tensor(Y4))
    with pytest.raises(ValueError, match="exactly one of sparsity and compression"):
        prune.masks(model, "magnitude")
    with pytest.raises(ValueError, match="exactly one"):
        prune.masks(model, "magnitude", sparsity=0.5, compression=2)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        prune.masks(model, "magnitude", sparsity=1.0)
    with pytest.raises(ValueError, match="compression must be"):
        prune.masks(model, "magnitude", compression=0.5)
    with pytest.raises(ValueError, match="scope must be one of global, layerwise"):
        prune.masks(model, "magnitude", sparsity=0.5, scope="local")
    with pytest.raises(ValueError, match="iterations must be a positive integer"):
        prune.masks(model, "magnitude", sparsity=0.5, iterations=0)
    with pytest.raises(ValueError, match="'snip' needs targets"):
        prune.masks(model, "snip", sparsity=0.5, inputs=data[0])
    with pytest.raises(ValueError, match="'synflow' needs inputs"):
        prune.masks(model, "synflow", sparsity=0.5)
    with pytest.raises(ValueError, match="no Conv2d or Linear weight"):
        prune.masks(torch.nn.ReLU(), "magnitude", sparsity=0.5)
    prune.apply(model, prune.masks(model, "magnitude", sparsity=0.5))
    with pytest.raises(ValueError, match="already pruned"):
        prune.masks(model, "magnitude", sparsity=0.5)


def assert_equal_masks(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name
