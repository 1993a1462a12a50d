"""Minibatches for zero-cost proxies, reproducible bit for bit.

Every batch is a pure function of its source, its size and its seed: equal arguments give
bit-identical tensors, whatever the global RNG state, which is never read or changed (all
randomness comes from a locally seeded ``torch.Generator`` or ``numpy.random.Generator``).

Sources:

* ``synthetic_batch``: Gaussian inputs of any shape with uniform labels.
* ``npz_batch``: an ``.npz`` archive with ``x_{split}`` / ``y_{split}`` arrays (see
  ``load_npz_arrays``), always read with ``allow_pickle=False``.
* ``cifar_batch``: the official CIFAR-10/100 "python version" pickle directories.
* ``batch_from_arrays``: the shared core, for images already in memory.

Image sources draw either ``batch_size`` distinct images or, with ``per_class=N``, exactly N
images of every class (the class-balanced sampling of GraSP, Wang et al., ICLR 2020).
Images are normalised per channel with ``(x - mean) / std`` on the 0-255 scale.

Problems with the data or the arguments raise ``DataError`` (a ``ValueError``) whose message
says what is wrong.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import numpy as np
import torch

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "Batch",
    "DataError",
    "batch_from_arrays",
    "cifar_batch",
    "load_cifar_arrays",
    "load_npz_arrays",
    "npz_batch",
    "synthetic_batch",
]

CIFAR10_MEAN: tuple[float, float, float] = (125.3, 123.0, 113.9)
"""Per-channel (RGB) mean of the CIFAR-10 training images, on the 0-255 scale."""
CIFAR10_STD: tuple[float, float, float] = (63.0, 62.1, 66.7)
"""Per-channel (RGB) standard deviation of the CIFAR-10 training images, on the 0-255 scale."""
CIFAR100_MEAN: tuple[float, float, float] = (129.3, 124.1, 112.4)
"""Per-channel (RGB) mean of the CIFAR-100 training images, on the 0-255 scale."""
CIFAR100_STD: tuple[float, float, float] = (68.2, 65.4, 70.4)
"""Per-channel (RGB) standard deviation of the CIFAR-100 training images, on the 0-255 scale."""

_MAX_SEED = 2**64 - 1  # the largest seed torch.Generator.manual_seed accepts

# What np.load raises for files that are not .npz archives or hold pickled (object) arrays.
_NPZ_READ_ERRORS = (OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile)

CifarName = Literal["cifar10", "cifar100"]
Split = Literal["train", "test"]


class _CifarFormat(NamedTuple):
    """Where one CIFAR dataset keeps its files and labels, and its channel statistics."""

    subdir: str
    files: dict[str, tuple[str, ...]]  # split -> batch files, in order
    label_key: bytes
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_CIFAR_FORMATS: dict[str, _CifarFormat] = {
    "cifar10": _CifarFormat(
        subdir="cifar-10-batches-py",
        files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        label_key=b"labels",
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
    ),
    "cifar100": _CifarFormat(
        subdir="cifar-100-python",
        files={"train": ("train",), "test": ("test",)},
        label_key=b"fine_labels",
        num_classes=100,
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
    ),
}


class DataError(ValueError):
    """A data source or batch request is invalid; the message says what is wrong."""


@dataclass(frozen=True)
class Batch:
    """One minibatch.

    Attributes:
        inputs: float32 tensor, ``(N, C, H, W)`` for images or ``(N, *input_shape)`` in general.
        targets: int64 tensor of shape ``(N,)``, each label in ``[0, num_classes)``.
        num_classes: the number of classes of the task the labels belong to.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        if self.inputs.dtype != torch.float32:
            raise DataError(f"Batch inputs must be float32, got {self.inputs.dtype}")
        if self.targets.dtype != torch.int64:
            raise DataError(f"Batch targets must be int64, got {self.targets.dtype}")
        if self.inputs.dim() < 2:
            raise DataError(
                f"Batch inputs need a batch and a feature dimension, got shape "
                f"{tuple(self.inputs.shape)}"
            )
        if self.targets.shape != (self.inputs.shape[0],):
            raise DataError(
                f"Batch targets must have shape ({self.inputs.shape[0]},) to match the inputs, "
                f"got {tuple(self.targets.shape)}"
            )
        if self.num_classes < 1:
            raise DataError(f"Batch num_classes must be >= 1, got {self.num_classes}")

    def to(self, device: torch.device | str) -> Batch:
        """A copy of the batch with both tensors on ``device``."""
        return Batch(self.inputs.to(device), self.targets.to(device), self.num_classes)


def synthetic_batch(
    batch_size: int,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int = 0,
) -> Batch:
    """Standard-normal inputs of shape ``(batch_size, *input_shape)`` with uniform labels.

    Inputs are drawn first, then labels, from one ``torch.Generator`` seeded with ``seed``.

    Raises:
        DataError: a size is not a positive integer or the seed is out of range.
    """
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("num_classes", num_classes, minimum=1)
    _check_seed(seed)
    shape = tuple(input_shape)
    if not shape:
        raise DataError("input_shape must have at least one dimension")
    for dim in shape:
        _check_int("every input_shape dimension", dim, minimum=1)
    generator = torch.Generator().manual_seed(int(seed))
    inputs = torch.randn((batch_size, *shape), generator=generator, dtype=torch.float32)
    targets = torch.randint(0, num_classes, (batch_size,), generator=generator, dtype=torch.int64)
    return Batch(inputs, targets, num_classes)


def load_npz_arrays(
    path: str | Path | BinaryIO, split: str = "train"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read and validate the images and labels of one split of an ``.npz`` archive.

    The archive holds ``x_{split}``: images ``(N, H, W, C)`` in NHWC layout (channels last),
    either uint8 or floating point on the 0-255 scale (NCHW is not accepted, as the two
    cannot be told apart reliably); ``y_{split}``: integer labels ``(N,)``; and optionally
    ``class_names``, a 1-D array whose length is the number of classes. Without it the
    number of classes is ``max(label) + 1``. Pickled (object) arrays are refused: the file
    is opened with ``allow_pickle=False``, so loading it never runs code from it.

    Returns:
        ``(images, labels, num_classes)``: images as stored (uint8 or float), labels int64.

    Raises:
        DataError: the file is missing or unreadable, a key is missing, or an array has
            the wrong shape, dtype or values.
    """
    path = Path(path) if isinstance(path, str) else path  # or an open binary file
    x_key, y_key = f"x_{split}", f"y_{split}"
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise DataError(f"no such file: {path}") from exc
    except _NPZ_READ_ERRORS as exc:
        raise DataError(f"cannot read {path} as an .npz archive: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single .npy array, not an .npz archive")
    with archive:
        missing = [key for key in (x_key, y_key) if key not in archive.files]
        if missing:
            raise DataError(f"{path} lacks key(s) {missing}; it has {sorted(archive.files)}")
        try:
            images = archive[x_key]
            labels = archive[y_key]
            class_names = archive["class_names"] if "class_names" in archive.files else None
        except _NPZ_READ_ERRORS as exc:
            raise DataError(f"cannot read the arrays of {path}: {exc}") from exc

    source = f"{path} ({x_key}, {y_key})"
    labels = _validate_labels(labels, source)
    if class_names is not None:
        if class_names.ndim != 1 or class_names.size == 0:
            raise DataError(
                f"{path}: class_names must be a non-empty 1-D array, got shape {class_names.shape}"
            )
        num_classes = len(class_names)
    elif labels.size:
        num_classes = int(labels.max()) + 1
    else:
        raise DataError(f"{source}: no labels and no class_names, so no classes")
    _validate_arrays(images, labels, num_classes, source)
    return images, labels, num_classes


def npz_batch(
    path: str | Path | BinaryIO,
    batch_size: int | None = None,
    seed: int = 0,
    split: str = "train",
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
    per_class: int | None = None,
) -> Batch:
    """A normalised NCHW batch from an ``.npz`` archive (format: ``load_npz_arrays``).

    ``batch_size``, ``seed`` and ``per_class`` select images as in ``batch_from_arrays``.

    Raises:
        DataError: the archive is invalid or the request cannot be met.
    """
    images, labels, num_classes = load_npz_arrays(path, split)
    return batch_from_arrays(
        images, labels, num_classes, batch_size, seed, mean, std, per_class=per_class
    )


def load_cifar_arrays(
    root: str | Path, dataset: CifarName = "cifar10", split: Split = "train"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read one split of the official CIFAR-10/100 "python version" as NHWC uint8 arrays.

    ``root`` is either the extracted directory itself (``cifar-10-batches-py`` with
    ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; ``cifar-100-python`` with
    ``train`` and ``test``) or the directory containing it, as torchvision lays it out.
    CIFAR-100 uses its 100 fine labels.

    Returns:
        ``(images (N, 32, 32, 3) uint8, labels int64, num_classes)``.

    Raises:
        DataError: unknown dataset or split, missing directory or file, or a malformed batch.
    """
    fmt = _cifar_format(dataset)
    if split not in fmt.files:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"CIFAR directory not found: {root}")
    directory = root / fmt.subdir if (root / fmt.subdir).is_dir() else root
    parts = [_read_cifar_pickle(directory / name, fmt.label_key) for name in fmt.files[split]]
    images = np.concatenate([part_images for part_images, _ in parts])
    labels = np.concatenate([part_labels for _, part_labels in parts])
    _validate_arrays(images, labels, fmt.num_classes, str(directory))
    return images, labels, fmt.num_classes


def cifar_batch(
    root: str | Path,
    batch_size: int | None = None,
    seed: int = 0,
    dataset: CifarName = "cifar10",
    split: Split = "train",
    per_class: int | None = None,
) -> Batch:
    """A normalised NCHW batch from a CIFAR-10/100 pickle directory (see ``load_cifar_arrays``).

    Normalised with the dataset's channel statistics (``CIFAR10_*`` or ``CIFAR100_*``).
    ``batch_size``, ``seed`` and ``per_class`` select images as in ``batch_from_arrays``.

    Raises:
        DataError: the directory is invalid or the request cannot be met.
    """
    fmt = _cifar_format(dataset)
    images, labels, num_classes = load_cifar_arrays(root, dataset, split)
    return batch_from_arrays(
        images, labels, num_classes, batch_size, seed, fmt.mean, fmt.std, per_class=per_class
    )


def batch_from_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int | None,
    seed: int,
    mean: Sequence[float],
    std: Sequence[float],
    per_class: int | None = None,
) -> Batch:
    """Draw, normalise and convert a batch from in-memory images; the core of every image source.

    Args:
        images: ``(N, H, W, C)`` NHWC, uint8 or floating point on the 0-255 scale.
        labels: ``(N,)`` integers in ``[0, num_classes)``.
        num_classes: the number of classes of the task.
        batch_size: the number of distinct images to draw; required without ``per_class``,
            and with it either ``None`` or exactly ``per_class * num_classes``.
        seed: seeds the draw; equal arguments give bit-identical batches.
        mean, std: one value per channel; inputs become ``(x - mean) / std``.
        per_class: draw exactly this many images of every class (GraSP's class-balanced
            sampling) instead of ``batch_size`` images regardless of class.

    Returns:
        A batch with float32 NCHW inputs; images appear in a seeded random order.

    Raises:
        DataError: invalid arrays, statistics or sizes, too few images, or (with
            ``per_class``) a class with fewer than ``per_class`` images.
    """
    _validate_arrays(images, labels, num_classes, "arrays")
    channels = images.shape[3]
    mean_array = _channel_stat("mean", mean, channels)
    std_array = _channel_stat("std", std, channels)
    if np.any(std_array <= 0):
        raise DataError(f"std must be positive, got {std!r}")

    indices = _select_indices(
        labels, num_classes=num_classes, batch_size=batch_size, per_class=per_class, seed=seed
    )
    selected = images[indices].astype(np.float32)
    normalised = (selected - mean_array) / std_array
    inputs = torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))
    targets = torch.from_numpy(labels[indices].astype(np.int64))
    return Batch(inputs, targets, num_classes)


def _select_indices(
    labels: np.ndarray,
    *,
    num_classes: int,
    batch_size: int | None,
    per_class: int | None,
    seed: int,
) -> np.ndarray:
    """Indices of the images a batch takes, in batch order; shared by every image source.

    A random permutation of all images is drawn from ``numpy.random.default_rng(seed)``.
    Without ``per_class`` the batch is its first ``batch_size`` entries. With ``per_class``
    it is, for every class, the first ``per_class`` images of that class in the
    permutation, kept in permutation order (so classes are interleaved).

    Raises:
        DataError: invalid sizes or seed, too few images, or a class with too few images.
    """
    _check_seed(seed)
    available = len(labels)
    if per_class is None:
        if batch_size is None:
            raise DataError("give batch_size, or per_class for a class-balanced batch")
        _check_int("batch_size", batch_size, minimum=1)
        if batch_size > available:
            raise DataError(f"batch_size {batch_size} exceeds the {available} images available")
        return np.random.default_rng(seed).permutation(available)[:batch_size]

    _check_int("per_class", per_class, minimum=1)
    expected = per_class * num_classes
    if batch_size is not None and batch_size != expected:
        raise DataError(
            f"with per_class={per_class} and {num_classes} classes the batch has {expected} "
            f"images; batch_size must be None or {expected}, got {batch_size}"
        )
    counts = np.bincount(labels, minlength=num_classes)
    short = {c: int(n) for c, n in enumerate(counts) if n < per_class}
    if short:
        raise DataError(
            f"per_class={per_class} but these classes have fewer images: {{class: count}} = {short}"
        )
    permutation = np.random.default_rng(seed).permutation(available)
    permuted_labels = labels[permutation]
    positions = np.concatenate(
        [np.flatnonzero(permuted_labels == c)[:per_class] for c in range(num_classes)]
    )
    return permutation[np.sort(positions)]


def _cifar_format(dataset: str) -> _CifarFormat:
    """The format of ``dataset``, or ``DataError`` if it is not a known CIFAR dataset."""
    if dataset not in _CIFAR_FORMATS:
        raise DataError(f"dataset must be one of {sorted(_CIFAR_FORMATS)}, got {dataset!r}")
    return _CIFAR_FORMATS[dataset]


def _read_cifar_pickle(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file as ``(images (N, 32, 32, 3) uint8 NHWC, labels int64)``."""
    if not path.is_file():
        raise DataError(f"CIFAR batch file not found: {path}")
    try:
        with path.open("rb") as f:
            # Unpickling can run arbitrary code, so it is done here only: these are the
            # official CIFAR files on the operator's own disk, at a path the operator chose;
            # data uploaded by users must go through load_npz_arrays (allow_pickle=False).
            batch: Any = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise DataError(f"cannot unpickle CIFAR batch {path}: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataError(f"{path} is not a CIFAR batch with keys b'data' and {label_key!r}")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    # Each row holds the red, green and blue 32x32 planes one after another (CHW).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    labels = _validate_labels(np.asarray(batch[label_key]), str(path))
    return images, labels


def _validate_labels(labels: np.ndarray, source: str) -> np.ndarray:
    """Check labels are 1-D non-negative integers; return them as int64."""
    if labels.ndim != 1:
        raise DataError(f"{source}: labels must be 1-D, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(f"{source}: labels must be non-negative, found {labels.min()}")
    return labels.astype(np.int64, copy=False)


def _validate_arrays(images: np.ndarray, labels: np.ndarray, num_classes: int, source: str) -> None:
    """Check images are NHWC uint8/float, finite, and match labels in ``[0, num_classes)``."""
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise DataError(f"{source}: images and labels must be numpy arrays")
    if images.ndim != 4:
        raise DataError(f"{source}: images must be 4-D NHWC (N, H, W, C), got shape {images.shape}")
    if min(images.shape[1:]) < 1:
        raise DataError(f"{source}: images have an empty dimension, shape {images.shape}")
    if np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all():
            raise DataError(f"{source}: images contain NaN or infinite values")
    elif images.dtype != np.uint8:
        raise DataError(
            f"{source}: images must be uint8 or floating point, got dtype {images.dtype}"
        )
    _validate_labels(labels, source)
    if len(labels) != len(images):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    _check_int("num_classes", num_classes, minimum=1)
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{source}: label {labels.max()} is out of range for {num_classes} classes")


def _channel_stat(name: str, values: Sequence[float], channels: int) -> np.ndarray:
    """Per-channel statistic as a finite float32 array of length ``channels``."""
    array = np.asarray(values, dtype=np.float32)
    if array.shape != (channels,):
        raise DataError(f"{name} needs one value per channel ({channels}), got {values!r}")
    if not np.isfinite(array).all():
        raise DataError(f"{name} must be finite, got {values!r}")
    return array


def _check_int(name: str, value: int, *, minimum: int) -> None:
    """Raise ``DataError`` unless ``value`` is an int (not bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DataError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise DataError(f"{name} must be >= {minimum}, got {value}")


def _check_seed(seed: int) -> None:
    """Raise ``DataError`` unless ``seed`` is an integer in ``[0, 2**64)``."""
    _check_int("seed", seed, minimum=0)
    if seed > _MAX_SEED:
        raise DataError(f"seed must be < 2**64, got {seed}")
