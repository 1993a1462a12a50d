"""The sanity-check transforms keep every layer's kept count (Frankle et al., ICLR 2021;
Su et al., NeurIPS 2020) and change what they claim to."""

from __future__ import annotations

import pytest
import torch
from prune_support import batch, small_vgg

from zero_cost import prune


@pytest.fixture(scope="module")
def pruned() -> tuple[torch.nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    model, data = small_vgg(), batch()
    scores = prune.scores(model, "snip", inputs=data.inputs, targets=data.targets)
    return model, scores, prune.masks_from_scores(scores, compression=20)


def _counts(masks: dict[str, torch.Tensor]) -> list[int]:
    return [layer.kept for layer in prune.summarize(masks).layers]


def test_shuffle_keeps_each_layers_count_and_moves_the_kept_weights(pruned):
    _, _, masks = pruned
    shuffled = prune.shuffle(masks, seed=1)
    assert list(shuffled) == list(masks)
    assert _counts(shuffled) == _counts(masks)
    assert all(s.shape == m.shape for s, m in zip(shuffled.values(), masks.values(), strict=True))
    assert any(not torch.equal(shuffled[n], masks[n]) for n in masks)
    again = prune.shuffle(masks, seed=1)
    assert all(torch.equal(again[n], shuffled[n]) for n in masks)


def test_invert_keeps_each_layers_count_with_its_lowest_scores(pruned):
    _, scores, masks = pruned
    inverted = prune.invert(masks, scores)
    assert _counts(inverted) == _counts(masks)
    for name, mask in inverted.items():
        if 0 < int(mask.sum()) < mask.numel():
            assert scores[name][mask].max() <= scores[name][~mask].min()
    with pytest.raises(ValueError, match="no scores of shape"):
        prune.invert(masks, {})


def test_reinit_draws_new_kept_weights_from_each_layers_values(pruned):
    _, _, masks = pruned
    model = small_vgg()
    before = {name: model.get_parameter(name).detach().clone() for name in masks}
    prune.reinit(model, masks, seed=2)
    for name, mask in masks.items():
        weight = model.get_parameter(name).detach()
        assert torch.equal(weight.flatten().sort().values, before[name].flatten().sort().values)
        assert not torch.equal(weight[mask], before[name][mask])
    # after apply(), the unmasked weights are re-initialised and the masks still hold
    prune.apply(model, masks)
    prune.reinit(model, masks, seed=3)
    for name, mask in masks.items():
        module = model.get_submodule(name.rpartition(".")[0])
        assert torch.equal(module.weight_mask.bool(), mask)
        assert not module.weight[~mask].any()
    with pytest.raises(ValueError, match="not the weight of a module"):
        prune.reinit(model, {"nowhere.weight": torch.ones(1, dtype=torch.bool)})
