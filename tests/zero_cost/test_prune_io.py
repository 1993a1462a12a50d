"""``apply`` (torch.nn.utils.prune) and the safetensors round trip of masks."""

from __future__ import annotations

import pytest
import torch
from prune_support import batch, small_vgg

from zero_cost import prune


def _masks(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    data = batch()
    return prune.masks(model, "snip", compression=10, inputs=data.inputs, targets=data.targets)


def test_apply_leaves_zero_weights_where_masks_are_false_through_training():
    model = small_vgg()
    masks = _masks(model)
    prune.apply(model, masks)
    for name, mask in masks.items():
        module = model.get_submodule(name.rpartition(".")[0])
        assert not module.weight[~mask].any()
        assert module.weight[mask].all()  # no initial weight is exactly zero
    # biases and BatchNorm are untouched; a training step keeps pruned weights at zero
    assert not hasattr(model.get_submodule("layers.1"), "weight_mask")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = batch()
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(data.inputs), data.targets).backward()
        optimizer.step()
    for name, mask in masks.items():
        assert not model.get_submodule(name.rpartition(".")[0]).weight[~mask].any()


def test_apply_checks_every_mask_before_pruning_anything():
    model = small_vgg()
    masks = _masks(model)
    bad = dict(masks, **{"layers.1.weight": torch.ones(4, dtype=torch.bool)})  # a BatchNorm
    with pytest.raises(ValueError, match="not the weight of a Conv2d or Linear"):
        prune.apply(model, bad)
    wrong = dict(masks, **{"fc.weight": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="must be bool of shape"):
        prune.apply(model, {"layers.15.weight": wrong["fc.weight"]})
    assert not any(hasattr(m, "weight_orig") for m in model.modules())


def test_masks_round_trip_through_safetensors(tmp_path):
    masks = _masks(small_vgg())
    path = tmp_path / "masks.safetensors"
    prune.save_masks(path, masks)
    loaded = prune.load_masks(path)
    assert list(loaded) == list(masks)  # layer order kept, not sorted by name
    for name, mask in masks.items():
        assert loaded[name].dtype == torch.bool and torch.equal(loaded[name], mask)
    with pytest.raises(ValueError, match="must be bool"):
        prune.save_masks(path, {"a.weight": torch.ones(2)})


def test_a_non_mask_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ValueError, match="not a bool mask"):
        prune.load_masks(path)
