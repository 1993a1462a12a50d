"""Train VGG-16-BN on CIFAR-10 after pruning it at initialisation: the check that
``docs/pruning.md`` cannot make, what accuracy a mask leads to.

Builds the benchmark's VGG-16-BN (``benchmarks/prune.py``: a ``graph`` spec, initialised as
Tanaka et al.'s ``lottery_vgg``) with a 10-class head, computes masks with
``zero_cost.prune.masks`` on 10 training images per class, applies them with
``zero_cost.prune.apply`` (``torch.nn.utils.prune``, so pruned weights stay zero) and
trains with Tanaka et al.'s settings: SGD with momentum 0.9, weight decay 1e-4, batch 128,
160 epochs, learning rate 0.1 divided by 10 at epochs 60 and 120, random crops and flips.
Prints the masks' summary, then the loss and test accuracy after every epoch::

    .venv/bin/python examples/train_pruned.py --method synflow --compression 1000

Needs torchvision (``pip install torchvision``, the build matching your torch), which
downloads CIFAR-10 (170 MB) into ``--data``, and in practice a CUDA GPU: 160 epochs of
VGG-16 take a few hours on one and far longer on a CPU. Tanaka et al. report, as issue 17
quotes them, at compression 1000 (99.9 % sparsity): SynFlow 80.4 %, SNIP 76.3 %, GraSP
70.9 %, random 10 % top-1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.prune import build_vgg16_bn  # noqa: E402
from zero_cost import data, prune  # noqa: E402


def cifar10(root: Path, batch_size: int, workers: int) -> tuple[DataLoader, DataLoader, object]:
    """Training and test loaders, and the raw training set (for the pruning batch)."""
    try:
        import torchvision
        from torchvision import transforms
    except ImportError:
        raise SystemExit(
            "this example needs torchvision: pip install torchvision (the build matching "
            f"torch {torch.__version__})"
        ) from None
    normalize = transforms.Normalize(
        [m / 255 for m in data.CIFAR10_MEAN], [s / 255 for s in data.CIFAR10_STD]
    )
    augment = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            normalize,
        ]
    )
    plain = transforms.Compose([transforms.ToTensor(), normalize])
    train = torchvision.datasets.CIFAR10(root, train=True, download=True, transform=augment)
    test = torchvision.datasets.CIFAR10(root, train=False, download=True, transform=plain)
    pin = torch.cuda.is_available()
    return (
        DataLoader(train, batch_size, shuffle=True, num_workers=workers, pin_memory=pin),
        DataLoader(test, 256, num_workers=workers, pin_memory=pin),
        train,
    )


def train_epoch(
    model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device
) -> float:
    """One epoch of SGD; the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = F.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Top-1 accuracy (%) on ``loader``."""
    model.eval()
    correct = count = 0
    for inputs, targets in loader:
        predictions = model(inputs.to(device)).argmax(1).cpu()
        correct += int((predictions == targets).sum())
        count += len(targets)
    return 100 * correct / count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="synflow", choices=prune.names())
    parser.add_argument("--compression", type=float, default=1000.0)
    parser.add_argument("--scope", default="global", choices=["global", "layerwise"])
    parser.add_argument("--epochs", type=int, default=160)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path("data/cifar10"))
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    train_loader, test_loader, train_set = cifar10(args.data, 128, args.workers)
    batch = data.batch_from_arrays(
        np.asarray(train_set.data),
        np.asarray(train_set.targets),
        10,
        None,
        args.seed,
        data.CIFAR10_MEAN,
        data.CIFAR10_STD,
        per_class=10,
    )
    model = build_vgg16_bn(10, seed=args.seed).to(device)
    start = time.perf_counter()
    masks = prune.masks(
        model,
        args.method,
        compression=args.compression,
        scope=args.scope,
        inputs=batch.inputs,
        targets=batch.targets,
        seed=args.seed,
    )
    summary = prune.summarize(masks)
    print(
        f"{args.method}: kept {summary.kept:,} of {summary.total:,} weights (sparsity "
        f"{summary.sparsity:.4%}) in {time.perf_counter() - start:.1f} s; "
        f"collapsed layers: {', '.join(summary.collapsed) or 'none'}"
    )
    prune.apply(model, masks)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[60, 120], gamma=0.1)
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, train_loader, optimizer, device)
        schedule.step()
        test = accuracy(model, test_loader, device)
        print(f"epoch {epoch:3d}: loss {loss:.3f}, test accuracy {test:.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
