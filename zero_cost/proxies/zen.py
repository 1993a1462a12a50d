"""Zen-score (Lin, Wang, Sun, Chen, Sun, Qian, Li, Jin, ICCV 2021, "Zen-NAS: A Zero-Shot NAS
for High-Performance Image Recognition"), as NASLib's ``measures/zen.py`` (the authors'
``idstcv/ZenNAS`` ``ZeroShotProxy/compute_zen_score.py``, repeat=1).

The weights are redrawn: every Conv2d and Linear weight ~ N(0, 1) with zero bias, every
affine BatchNorm2d/GroupNorm weight 1 and bias 0 (other parameters keep their values). With
x, e ~ N(0, 1) of the batch's shape (the batch's values are not used), gamma = 1e-2, f the
pre-global-average-pooling feature map, both forwards in train mode (BatchNorm normalises by
batch statistics) and B the BatchNorm2d layers:

    zen = log( mean over samples n of sum over (c, h, w) of |f(x)_n - f(x + gamma e)_n| )
          + sum over b in B of log sqrt( mean over channels of rv_b )

The first norm is an L1 norm, as in the code (the paper writes the Frobenius norm). rv_b is
the running variance the reference reads after its two forwards: starting from 1, each
forward updates rv_b <- 0.9 rv_b + 0.1 v_b with v_b the unbiased batch variance of the
layer's input per channel, so rv_b = 0.81 + 0.09 v_b(x) + 0.1 v_b(x + gamma e). Higher is
better (as the paper and NASLib: larger expressivity).

Deviations, none of which changes the reference's value on its networks:

* The model is never changed: the forwards run through ``torch.func.functional_call`` on
  the redrawn weights and on copies of the buffers (which BatchNorm updates in place).
* rv_b is computed from the batch variances (recorded by forward hooks) with momentum 0.1
  and initial value 1, PyTorch's defaults, which the reference networks use, whatever the
  layer's own momentum (NB101's BatchNorm here uses 0.003, which would leave rv_b near 1) or
  its current running statistics; BatchNorm layers without running statistics count too.
* Randomness: the weights (in ``model.modules()`` order), then x, then e are drawn from a
  CPU generator seeded with ``torch.initial_seed()`` (the engine's seed), so the value does
  not depend on which other proxies share the call or on the device. Dropout, if any, stays
  active (train mode, as in the reference) and draws from torch's global RNG.
* The feature map f is found generically (NASLib's networks have a
  ``forward_before_global_avg_pool``): the input of the last global average pooling module
  to run, ``nn.AdaptiveAvgPool2d`` with output size 1 (NB201) or the graph space's
  ``global_avgpool`` node; for an NB101 network, which averages inline, the output of its
  cell stack (as NASLib's NB101 hook on the last cell). Other models raise ValueError.
* With several chunks, each chunk is a separate forward (BatchNorm statistics per chunk, one
  rv_b update per chunk forward); with one chunk (the default) this is the reference.

Cost: two no-grad forwards of a random batch of the batch's size, no backward; drawing
Gaussian weights (one value per Conv/Linear weight).
"""

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from ..passes import Passes
from ..spaces.graph import _GlobalAvgPool
from ..spaces.nb101 import NB101Network
from ._registry import register

MIXUP_GAMMA = 1e-2
BN_MOMENTUM = 0.1


def _is_global_pool(module: nn.Module) -> bool:
    if isinstance(module, _GlobalAvgPool):
        return True
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        return tuple(size) == (1, 1) if isinstance(size, (tuple, list)) else size == 1
    return False


def _feature_taps(model: nn.Module) -> tuple[list[nn.Module], bool]:
    """The modules whose input (flag True) or output (False) is the pre-pooling map."""
    pools = [m for m in model.modules() if _is_global_pool(m)]
    if pools:
        return pools, True
    if isinstance(model, NB101Network):
        return [model.cells], False
    raise ValueError(
        "zen needs the feature map before global average pooling, but the model has no "
        "nn.AdaptiveAvgPool2d(1) or graph-space global_avgpool module and is not an NB101 "
        "network"
    )


def _redrawn_tensors(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Parameters as the reference's ``network_weight_gaussian_init`` leaves them, and copies
    of the buffers, keyed by name for ``functional_call``."""
    tensors = {name: p.detach() for name, p in model.named_parameters()}

    def put(
        module: nn.Module, prefix: str, attr: str, values: Callable[[torch.Tensor], torch.Tensor]
    ) -> None:
        current = getattr(module, attr)
        if current is None:
            return
        new = values(current).to(current.device, current.dtype)
        if current.dim() == 4 and current.is_contiguous(memory_format=torch.channels_last):
            new = new.contiguous(memory_format=torch.channels_last)
        tensors[f"{prefix}.{attr}" if prefix else attr] = new

    def gaussian(current: torch.Tensor) -> torch.Tensor:
        return torch.randn(current.shape, generator=generator)

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            put(module, name, "weight", gaussian)
            put(module, name, "bias", torch.zeros_like)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            put(module, name, "weight", torch.ones_like)
            put(module, name, "bias", torch.zeros_like)
    for name, buffer in model.named_buffers():
        tensors[name] = buffer.detach().clone()
    return tensors


@register("zen", version="1")
def zen(passes: Passes) -> float:
    """log of the pre-pooling response to a small input perturbation plus BN scaling terms."""
    model = passes.model
    taps, tap_input = _feature_taps(model)
    generator = torch.Generator().manual_seed(torch.initial_seed())
    tensors = _redrawn_tensors(model, generator)
    dtype = passes.inputs.dtype if passes.inputs.is_floating_point() else torch.float32
    shape = tuple(passes.inputs.shape)
    x = torch.randn(shape, generator=generator, dtype=dtype)
    noise = torch.randn(shape, generator=generator, dtype=dtype)
    batches = [x, x + MIXUP_GAMMA * noise]

    captured: list[torch.Tensor] = []
    running: dict[nn.Module, torch.Tensor] = {}

    def tap(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        captured.append(args[0] if tap_input else output)

    def track(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        inputs = args[0].detach()
        dims = [d for d in range(inputs.dim()) if d != 1]
        # Two passes in float32 (torch's var is several times slower on these layouts).
        centered = inputs - inputs.mean(dims, keepdim=True)
        count = inputs.numel() // inputs.shape[1]
        variance = (centered.square().sum(dims) / (count - 1)).double()
        rv = running.get(module)
        rv = torch.ones_like(variance) if rv is None else rv
        running[module] = (1 - BN_MOMENTUM) * rv + BN_MOMENTUM * variance

    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks = [m.register_forward_hook(tap) for m in taps]
    hooks += [m.register_forward_hook(track) for m in norms]
    features: list[list[torch.Tensor]] = [[], []]
    try:
        with torch.no_grad():
            for which, batch in enumerate(batches):
                batch = batch.to(passes.inputs.device)
                for index in passes.chunk_indices():
                    captured.clear()
                    functional_call(model, tensors, (batch[index],))
                    if not captured:
                        raise ValueError("zen: the global average pooling never ran")
                    features[which].append(captured[-1].detach())
    finally:
        for hook in hooks:
            hook.remove()
    difference = torch.cat(features[0]) - torch.cat(features[1])
    expected = difference.abs().flatten(1).double().sum(1).mean()
    total = torch.log(expected)
    for norm in norms:
        if norm in running:
            total = total + torch.log(torch.sqrt(running[norm].mean()))
    return float(total)
