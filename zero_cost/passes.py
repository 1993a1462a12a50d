"""The passes zero-cost proxies read from, each run at most once and only on demand.

The **main pass** is one forward of the batch in train mode and, as the requested proxies
need, one backward of the mean cross-entropy for the weight gradients (snip, grad_norm),
per-layer activation gradients (fisher) and, with ``create_graph``, GraSP's
Hessian-gradient product; the same forward records ReLU codes (nwot) and, with one more
backward, the input Jacobian (jacob_cov). Proxies that need other weights or data run their
own passes, using the helpers here: synflow functionally, on absolute float64 copies of the
weights; zico on the model itself, once per half of the batch.

The batch can be split into chunks: losses are summed and divided by the full batch size, so
accumulated gradients equal the full batch's (exactly for networks whose layers treat
samples independently; BatchNorm in train mode normalises each chunk by its own statistics).
With several chunks GraSP's H g needs the whole batch's g first, so each chunk is run
forward a second time for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


class Passes:
    """Runs, once each and on demand, the passes that proxies read from.

    ``needs`` is the union of the requested proxies' main-pass needs, so that one forward
    and one backward record everything they ask for.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        needs: frozenset[str],
        chunks: int = 1,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.targets = targets
        self.needs = needs
        self.chunks = max(1, min(chunks, inputs.shape[0]))
        named = [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
        self.weight_layers = [m for _, m in named]
        self.weight_names = [f"{n}.weight" if n else "weight" for n, _ in named]
        self.weights = [m.weight for m in self.weight_layers]
        self._main: dict[str, object] | None = None

    # -- helpers for proxies -------------------------------------------------------------

    def chunk_indices(self, size: int | None = None) -> list[torch.Tensor]:
        """Index tensors splitting ``size`` samples (default: the batch) into the chunks."""
        size = self.inputs.shape[0] if size is None else size
        index = torch.arange(size, device=self.inputs.device)
        return [c for c in torch.tensor_split(index, min(self.chunks, size)) if len(c)]

    def sum_over_weights(
        self,
        per_layer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        tensors: Sequence[torch.Tensor | None],
    ) -> float:
        """Sum of ``per_layer(weight, tensor)`` over Conv/Linear layers; layers whose tensor
        is None (the layer does not influence the output) contribute 0."""
        total = torch.zeros((), dtype=torch.float64, device=self.inputs.device)
        with torch.no_grad():
            for weight, tensor in zip(self.weights, tensors, strict=True):
                if tensor is not None:
                    total += per_layer(weight.detach(), tensor).double()
        return float(total)

    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Temporarily put the model in eval mode."""
        flags = [m.training for m in self.model.modules()]
        self.model.eval()
        try:
            yield
        finally:
            for module, flag in zip(self.model.modules(), flags, strict=True):
                module.training = flag

    # -- products of the main pass ----------------------------------------------------------

    def weight_grads(self) -> list[torch.Tensor | None]:
        """dL/dW for every Conv/Linear weight, L the mean cross-entropy of the batch."""
        return self._run_main()["weight_grads"]

    def fisher_per_layer(self) -> list[torch.Tensor]:
        """Per Conv/Linear layer, per output channel: 0.5 * mean_n (sum a * dL/da)^2."""
        return self._run_main()["fisher"]

    def hessian_grad(self) -> list[torch.Tensor | None]:
        """H g for every Conv/Linear weight (GraSP), g = dL/dW and H the Hessian of L."""
        return self._run_main()["hessian_grad"]

    def relu_kernel(self) -> torch.Tensor:
        """NASWOT's kernel: K[i, j] = units (over all ReLU inputs) where i and j agree."""
        return self._run_main()["relu_kernel"]

    def relu_codes(self) -> list[torch.Tensor]:
        """Per ReLU module (first-call order), its input > 0 per sample: (N, units) bool.
        Recorded with the NASWOT kernel in the main pass (need ``relu_codes``)."""
        return self._run_main()["relu_codes"]

    def input_jacobian(self) -> torch.Tensor:
        """Per sample, d(sum of outputs)/d(input), flattened: shape (N, input size)."""
        return self._run_main()["input_jacobian"]

    def _run_main(self) -> dict:
        if self._main is None:
            self._main = _MainPass(self).run()
        return self._main


class _MainPass:
    """One forward (and the backwards it needs) over the batch, chunk by chunk."""

    def __init__(self, passes: Passes) -> None:
        self.p = passes
        needs = passes.needs
        self.want_grads = bool(needs & {"weight_grads", "fisher", "hessian_grad"})
        self.want_hessian = "hessian_grad" in needs
        self.want_fisher = "fisher" in needs
        self.want_codes = "relu_codes" in needs
        self.want_jacobian = "input_jacobian" in needs
        if self.want_grads and passes.targets is None:
            raise ValueError("these proxies need targets (labels) for the loss")
        n_layers = len(passes.weights)
        self.grads: list[torch.Tensor | None] = [None] * n_layers
        self.fisher: list[torch.Tensor | None] = [None] * n_layers
        self.codes: dict[int, list[torch.Tensor]] = {}
        self.jacobian: list[torch.Tensor] = []

    def run(self) -> dict:
        p = self.p
        size = p.inputs.shape[0]
        chunks = p.chunk_indices()
        # With one chunk, GraSP's g is known after the first backward, so the create-graph
        # backward that gives g also feeds H g. With several, g needs all chunks first.
        one_shot_hessian = self.want_hessian and len(chunks) == 1
        graph_grads = None
        hooks = self._register_forward_hooks()
        try:
            for index in chunks:
                graph_grads = self._forward_backward(index, size, create_graph=one_shot_hessian)
        finally:
            for hook in hooks:
                hook.remove()
        result: dict[str, object] = {"weight_grads": self.grads}
        if self.want_fisher:
            result["fisher"] = [
                torch.zeros(0) if f is None else 0.5 * f / size for f in self.fisher
            ]
        if self.want_hessian:
            if one_shot_hessian:
                result["hessian_grad"] = self._hessian_grad(graph_grads)
            else:
                result["hessian_grad"] = self._hessian_grad_chunked(chunks, size)
        if self.want_codes:
            result["relu_kernel"] = self._relu_kernel(size)
            result["relu_codes"] = [torch.cat(parts) for parts in self.codes.values()]
        if self.want_jacobian:
            result["input_jacobian"] = torch.cat(self.jacobian)
        return result

    def _register_forward_hooks(self) -> list[torch.utils.hooks.RemovableHandle]:
        hooks = []
        if self.want_codes:
            relus = [m for m in self.p.model.modules() if isinstance(m, nn.ReLU)]
            for position, relu in enumerate(relus):
                hooks.append(relu.register_forward_hook(self._record_codes(position)))
        if self.want_fisher:
            for position, layer in enumerate(self.p.weight_layers):
                hooks.append(layer.register_forward_hook(self._watch_activation(position)))
        return hooks

    def _record_codes(self, position: int) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            self.codes.setdefault(position, []).append(args[0].detach().flatten(1) > 0)

        return hook

    def _watch_activation(self, position: int) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if not output.requires_grad:
                return
            activation = output.detach()

            def on_grad(grad: torch.Tensor) -> None:
                product = activation * grad.detach()
                per_channel = product.flatten(2).sum(2) if product.dim() > 2 else product
                squares = per_channel.double().pow(2).sum(0)
                current = self.fisher[position]
                self.fisher[position] = squares if current is None else current + squares

            self._pending_grad_hooks.append(output.register_hook(on_grad))

        return hook

    def _forward_backward(
        self, index: torch.Tensor, size: int, create_graph: bool
    ) -> list[torch.Tensor | None] | None:
        p = self.p
        x = p.inputs[index]
        if self.want_jacobian:
            x = x.detach().requires_grad_(True)
        self._pending_grad_hooks: list[torch.utils.hooks.RemovableHandle] = []
        with torch.set_grad_enabled(self.want_grads or self.want_jacobian):
            outputs = p.model(x)
        graph_grads = None
        if self.want_grads:
            loss = F.cross_entropy(outputs, p.targets[index], reduction="sum") / size
            grads = torch.autograd.grad(
                loss,
                p.weights,
                allow_unused=True,
                create_graph=create_graph,
                retain_graph=create_graph or self.want_jacobian,
            )
            for position, grad in enumerate(grads):
                if grad is not None:
                    current = self.grads[position]
                    grad = grad.detach()
                    self.grads[position] = grad if current is None else current + grad
            graph_grads = list(grads) if create_graph else None
        for hook in self._pending_grad_hooks:
            hook.remove()
        if self.want_jacobian:
            # allow_unused: with no input-output path (a degenerate cell) x is not in the
            # graph; its Jacobian is then zero rather than an error.
            jacobian = None
            if outputs.requires_grad:
                (jacobian,) = torch.autograd.grad(
                    outputs.sum(), x, retain_graph=create_graph, allow_unused=True
                )
            if jacobian is None:
                jacobian = torch.zeros_like(x)
            self.jacobian.append(jacobian.flatten(1))
        return graph_grads

    def _hessian_grad(self, graph_grads: list[torch.Tensor | None]) -> list:
        p = self.p
        z = sum(
            (g.detach() * gf).sum()
            for g, gf in zip(self.grads, graph_grads, strict=True)
            if g is not None and gf is not None
        )
        if not isinstance(z, torch.Tensor) or not z.requires_grad:
            return [None] * len(p.weights)
        return list(torch.autograd.grad(z, p.weights, allow_unused=True))

    def _hessian_grad_chunked(self, chunks: list[torch.Tensor], size: int) -> list:
        p = self.p
        total: list[torch.Tensor | None] = [None] * len(p.weights)
        for index in chunks:
            loss = F.cross_entropy(p.model(p.inputs[index]), p.targets[index], reduction="sum")
            graph_grads = torch.autograd.grad(
                loss / size, p.weights, allow_unused=True, create_graph=True
            )
            for position, part in enumerate(self._hessian_grad(list(graph_grads))):
                if part is not None:
                    current = total[position]
                    total[position] = part if current is None else current + part
        return total

    def _relu_kernel(self, size: int) -> torch.Tensor:
        kernel = torch.zeros((size, size), dtype=torch.float64, device=self.p.inputs.device)
        for parts in self.codes.values():
            signs = torch.cat(parts).float() * 2 - 1  # +1 active, -1 inactive
            units = signs.shape[1]
            # agreements = (units + signs . signs) / 2; exact in float32 below 2**24 units
            kernel += (units + (signs @ signs.T).double()) / 2
        return kernel
