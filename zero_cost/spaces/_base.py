"""The contract every search space implements, and the error they raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

SMALL_PARAMS = 20_000_000
"""Networks up to this many parameters are run on the CPU to count their activations."""


class SpecError(ValueError):
    """An architecture spec is malformed or invalid; the message says what and where."""


class SearchSpace(ABC):
    """One family of architectures: parse specs, canonicalise them and build networks.

    Subclasses set ``name`` and implement the abstract methods. ``param_count`` and
    ``flops`` default to building the network on the ``meta`` device, which allocates
    no memory for weights; spaces that can count analytically override them.
    ``activation_count`` runs two samples through the network.
    """

    name: ClassVar[str]

    @abstractmethod
    def parse(self, spec: Any) -> Any:
        """Validate ``spec`` (str or JSON-compatible value) and return an architecture.

        Raises:
            SpecError: the spec is malformed; the message names the field at fault.
        """

    @abstractmethod
    def canonical_key(self, arch: Any) -> str:
        """A key that is equal for architectures computing the same function (their
        function-equivalence class)."""

    def identity_key(self, arch: Any) -> str:
        """A key that is equal only for specs of the same architecture, up to purely
        syntactic normalisation (how the spec is spelled, not what it computes). By default
        the canonical key: a space whose canonical key merges different architectures
        overrides it."""
        return self.canonical_key(arch)

    @abstractmethod
    def to_spec(self, arch: Any) -> Any:
        """A JSON-compatible spec that ``parse`` turns back into ``arch``."""

    @abstractmethod
    def spec_schema(self) -> dict[str, Any]:
        """The JSON schema of the spec this space accepts (for OpenAPI documents)."""

    @abstractmethod
    def _build(self, arch: Any, num_classes: int) -> nn.Module:
        """Construct the network using the current default RNG and device."""

    def input_shape(self, arch: Any) -> tuple[int, ...]:
        """Shape of one input sample (without the batch dimension)."""
        return (3, 32, 32)

    def build(self, arch: Any, num_classes: int = 10, seed: int = 0) -> nn.Module:
        """Build the network; equal seeds give identical weights.

        The global RNG state is left untouched.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._build(arch, num_classes)

    def param_count(self, arch: Any, num_classes: int = 10) -> int:
        """Number of trainable parameters, computed without allocating weights."""
        with torch.device("meta"):
            model = self._build(arch, num_classes)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def flops(self, arch: Any, num_classes: int = 10) -> int:
        """FLOPs of one forward pass of a single sample, as ``torch.utils.flop_counter``
        counts them (a multiply-add is 2 FLOPs), computed without allocating weights."""
        with torch.device("meta"):
            model = self._build(arch, num_classes)
            x = torch.empty((1, *self.input_shape(arch)))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(x)
        return int(counter.get_total_flops())

    def activation_count(self, arch: Any, num_classes: int = 10) -> int:
        """Elements of the outputs of every leaf module in a forward pass, per sample: the
        activations a backward pass keeps, up to the functional glue (sums, concatenations)
        between modules.

        A network of at most ``SMALL_PARAMS`` parameters runs on the CPU with
        uninitialised weights (a few tens of milliseconds); a larger one on the ``meta``
        device, which allocates nothing but is slower."""
        with torch.device("meta"):
            model = self._build(arch, num_classes)
        small = sum(p.numel() for p in model.parameters()) <= SMALL_PARAMS
        device = torch.device("cpu" if small else "meta")
        model = model.to_empty(device=device)
        total = 0

        def count(module: nn.Module, inputs: Any, output: Any) -> None:
            nonlocal total
            if isinstance(output, torch.Tensor) and output.dim() > 0:
                total += output[0].numel()

        leaves = [m for m in model.modules() if next(m.children(), None) is None]
        hooks = [leaf.register_forward_hook(count) for leaf in leaves]
        try:
            with torch.no_grad():
                # Two samples: batch norm in training mode needs more than one value.
                model(torch.zeros((2, *self.input_shape(arch)), device=device))
        finally:
            for hook in hooks:
                hook.remove()
        return total
