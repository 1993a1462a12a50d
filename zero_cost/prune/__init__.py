"""Pruning at initialisation: which weights of an untrained network to keep.

Methods, one module each, registered by name (``names()``, ``get(name)``): ``snip``,
``grasp``, ``synflow`` (iterative, 100 rounds by default), ``magnitude`` and ``random``.
Each scores every Conv2d/Linear weight, higher = keep; biases and normalisation layers are
never pruned. SNIP, GraSP and SynFlow reuse the per-weight terms of the proxies of the same
name (``zero_cost.proxies``) and the engine's passes.

    from zero_cost import prune
    masks = prune.masks(model, "synflow", compression=100, inputs=batch.inputs)
    prune.summarize(masks).collapsed        # layers emptied, if any
    prune.apply(model, masks)               # torch.nn.utils.prune, then train as usual
    prune.save_masks("masks.safetensors", masks)

Modules: ``pruner`` (``masks``, ``scores``), ``schedule`` (targets and the exponential
schedule), ``select`` (scores to masks, global or layerwise), ``sanity`` (``shuffle``,
``invert``, ``reinit``), ``apply``, ``storage`` (safetensors) and ``summary``.
"""

from . import grasp, magnitude, random, snip, synflow
from ._registry import PruneMethod, get, names
from .apply import apply
from .pruner import masks, scores
from .sanity import invert, reinit, shuffle
from .schedule import density
from .select import masks_from_scores
from .storage import load_masks, save_masks
from .summary import LayerSummary, MaskSummary, summarize

__all__ = [
    "LayerSummary",
    "MaskSummary",
    "PruneMethod",
    "apply",
    "density",
    "get",
    "invert",
    "load_masks",
    "masks",
    "masks_from_scores",
    "names",
    "reinit",
    "save_masks",
    "scores",
    "shuffle",
    "summarize",
    # the built-in methods
    "grasp",
    "magnitude",
    "random",
    "snip",
    "synflow",
]
