"""Masks on disk as ``safetensors``: one bool tensor per weight, keyed by its qualified
name, with the layer order kept in the file's metadata. Loading never unpickles anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

_ORDER_KEY = "zero_cost.prune.order"


def save_masks(path: str | Path, masks: Mapping[str, torch.Tensor]) -> None:
    """Write ``masks`` (bool tensors, any device) to ``path`` as safetensors.

    Raises:
        ValueError: a mask is not boolean.
    """
    tensors = {}
    for name, mask in masks.items():
        if mask.dtype != torch.bool:
            raise ValueError(f"mask of {name!r} must be bool, got {mask.dtype}")
        tensors[name] = mask.detach().cpu().contiguous()
    save_file(tensors, str(path), metadata={_ORDER_KEY: json.dumps(list(masks))})


def load_masks(path: str | Path) -> dict[str, torch.Tensor]:
    """The masks ``save_masks`` wrote to ``path``, on the CPU, in their original order.

    Raises:
        ValueError: the file holds a tensor that is not boolean.
    """
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        names = list(f.keys())
        if _ORDER_KEY in metadata:
            names = json.loads(metadata[_ORDER_KEY])
        masks = {name: f.get_tensor(name) for name in names}
    for name, mask in masks.items():
        if mask.dtype != torch.bool:
            raise ValueError(f"{path}: tensor {name!r} is {mask.dtype}, not a bool mask")
    return masks
