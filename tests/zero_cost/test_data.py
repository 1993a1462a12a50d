"""Tests for zero_cost.data: reproducible minibatches from synthetic, npz and CIFAR sources."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zero_cost.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    Batch,
    DataError,
    _select_indices,
    batch_from_arrays,
    cifar_batch,
    load_cifar_arrays,
    load_npz_arrays,
    npz_batch,
    synthetic_batch,
)


def assert_batches_identical(a: Batch, b: Batch) -> None:
    """Bit-identical inputs and targets, same dtypes, same number of classes."""
    assert a.inputs.dtype == b.inputs.dtype and a.targets.dtype == b.targets.dtype
    assert torch.equal(a.inputs, b.inputs)
    assert torch.equal(a.targets, b.targets)
    assert a.num_classes == b.num_classes


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Save ``arrays`` as an .npz archive at ``path`` and return the path."""
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def fake_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random 32x32 RGB uint8 images, NHWC."""
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Batch
# ---------------------------------------------------------------------------------------------


def test_batch_to_returns_a_new_batch() -> None:
    batch = synthetic_batch(4, seed=1)
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved is not batch
    assert_batches_identical(batch, moved)
    if torch.cuda.is_available():
        on_gpu = batch.to("cuda")
        assert on_gpu.inputs.is_cuda and on_gpu.targets.is_cuda
        assert batch.inputs.device.type == "cpu"


@pytest.mark.parametrize(
    ("inputs", "targets", "num_classes"),
    [
        (torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.int64), 2),
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.int32), 2),
        (torch.zeros(2), torch.zeros(2, dtype=torch.int64), 2),
        (torch.zeros(2, 3), torch.zeros(3, dtype=torch.int64), 2),
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64), 0),
    ],
)
def test_batch_rejects_inconsistent_fields(
    inputs: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> None:
    with pytest.raises(DataError):
        Batch(inputs, targets, num_classes)


# ---------------------------------------------------------------------------------------------
# synthetic_batch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("input_shape", [(3, 32, 32), (1, 28, 28), (3, 16, 16), (20,), (4, 5)])
def test_synthetic_shapes_and_dtypes(input_shape: tuple[int, ...]) -> None:
    batch = synthetic_batch(8, input_shape=input_shape, num_classes=7, seed=3)
    assert batch.inputs.shape == (8, *input_shape)
    assert batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (8,) and batch.targets.dtype == torch.int64
    assert batch.num_classes == 7
    assert int(batch.targets.min()) >= 0 and int(batch.targets.max()) < 7


@pytest.mark.parametrize("input_shape", [(3, 32, 32), (1, 28, 28), (20,)])
def test_synthetic_is_deterministic(input_shape: tuple[int, ...]) -> None:
    first = synthetic_batch(16, input_shape=input_shape, seed=42)
    second = synthetic_batch(16, input_shape=input_shape, seed=42)
    assert_batches_identical(first, second)
    other = synthetic_batch(16, input_shape=input_shape, seed=43)
    assert not torch.equal(first.inputs, other.inputs)


def test_synthetic_ignores_and_preserves_global_rng() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    first = synthetic_batch(8, seed=5)
    torch.manual_seed(12345)
    torch.rand(100)  # advance the global generator
    np.random.seed(999)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    second = synthetic_batch(8, seed=5)
    assert_batches_identical(first, second)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


def batch_digest(batch: Batch) -> str:
    """SHA-256 of the raw bytes of a batch's tensors."""
    digest = hashlib.sha256(batch.inputs.numpy().tobytes())
    digest.update(batch.targets.numpy().tobytes())
    return digest.hexdigest()


def test_synthetic_is_identical_in_a_fresh_process() -> None:
    code = (
        "import hashlib, torch; torch.manual_seed(777); "
        "from zero_cost.data import synthetic_batch; "
        "b = synthetic_batch(8, (3, 8, 8), 10, seed=11); "
        "d = hashlib.sha256(b.inputs.numpy().tobytes()); d.update(b.targets.numpy().tobytes()); "
        "print(d.hexdigest())"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == batch_digest(synthetic_batch(8, (3, 8, 8), 10, seed=11))


def test_synthetic_is_roughly_standard_normal_and_uniform() -> None:
    batch = synthetic_batch(4096, input_shape=(16,), num_classes=4, seed=0)
    assert abs(float(batch.inputs.mean())) < 0.02
    assert abs(float(batch.inputs.std()) - 1.0) < 0.02
    counts = torch.bincount(batch.targets, minlength=4)
    assert int(counts.min()) > 900  # 1024 expected per class


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": -1},
        {"batch_size": 2.0},
        {"batch_size": True},
        {"batch_size": 2, "num_classes": 0},
        {"batch_size": 2, "input_shape": ()},
        {"batch_size": 2, "input_shape": (3, 0, 4)},
        {"batch_size": 2, "seed": -1},
        {"batch_size": 2, "seed": 2**64},
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(DataError):
        synthetic_batch(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# _select_indices: the draw shared by every image source
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=60),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_select_indices_draws_distinct_valid_indices(
    labels: list[int], fraction: float, seed: int
) -> None:
    array = np.array(labels, dtype=np.int64)
    batch_size = max(1, round(fraction * len(labels)))
    kwargs = {"num_classes": 5, "batch_size": batch_size, "per_class": None, "seed": seed}
    indices = _select_indices(array, **kwargs)
    assert len(indices) == batch_size
    assert len(set(indices.tolist())) == batch_size
    assert indices.min() >= 0 and indices.max() < len(labels)
    assert np.array_equal(indices, _select_indices(array, **kwargs))


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 12), min_size=1, max_size=6),
    per_class=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
def test_select_indices_per_class_is_balanced_or_refused(
    counts: list[int], per_class: int, seed: int
) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    kwargs = {"num_classes": len(counts), "batch_size": None, "per_class": per_class, "seed": seed}
    if min(counts) < per_class:
        with pytest.raises(DataError, match="fewer images"):
            _select_indices(labels, **kwargs)
        return
    indices = _select_indices(labels, **kwargs)
    assert len(set(indices.tolist())) == len(indices) == per_class * len(counts)
    assert np.bincount(labels[indices], minlength=len(counts)).tolist() == [per_class] * len(counts)
    assert np.array_equal(indices, _select_indices(labels, **kwargs))


def test_select_indices_per_class_order_is_seeded_not_sorted_by_class() -> None:
    labels = np.tile(np.arange(10), 20)
    kwargs = {"num_classes": 10, "batch_size": 50, "per_class": 5}
    orders = {tuple(labels[_select_indices(labels, seed=s, **kwargs)]) for s in range(3)}
    assert len(orders) == 3
    assert all(list(order) != sorted(order) for order in orders)


@pytest.mark.parametrize(
    ("batch_size", "per_class", "message"),
    [
        (None, None, "give batch_size"),
        (0, None, "batch_size must be >= 1"),
        (11, None, "exceeds the 10 images"),
        (7, 2, "batch_size must be None or 4"),
        (None, 0, "per_class must be >= 1"),
        (None, 6, "fewer images"),
    ],
)
def test_select_indices_rejects_bad_sizes(
    batch_size: int | None, per_class: int | None, message: str
) -> None:
    labels = np.array([0, 1] * 5)
    with pytest.raises(DataError, match=message):
        _select_indices(labels, num_classes=2, batch_size=batch_size, per_class=per_class, seed=0)


# ---------------------------------------------------------------------------------------------
# batch_from_arrays
# ---------------------------------------------------------------------------------------------


def test_batch_from_arrays_normalises_and_converts_to_nchw() -> None:
    rng = np.random.default_rng(0)
    images = fake_images(12, rng)
    labels = np.arange(12) % 3
    mean, std = (10.0, 20.0, 30.0), (2.0, 4.0, 8.0)
    batch = batch_from_arrays(images, labels, 3, batch_size=5, seed=9, mean=mean, std=std)
    indices = _select_indices(labels, num_classes=3, batch_size=5, per_class=None, seed=9)
    expected = (images[indices].astype(np.float32) - np.float32(mean)) / np.float32(std)
    assert batch.inputs.shape == (5, 3, 32, 32)
    assert torch.equal(batch.inputs, torch.from_numpy(expected.transpose(0, 3, 1, 2).copy()))
    assert batch.targets.tolist() == labels[indices].tolist()


def test_batch_from_arrays_accepts_float_and_single_channel_images() -> None:
    images = np.random.default_rng(1).uniform(0, 255, size=(6, 8, 8, 1))
    batch = batch_from_arrays(images, np.zeros(6, dtype=np.int64), 1, 6, 0, (127.5,), (64.0,))
    assert batch.inputs.shape == (6, 1, 8, 8) and batch.inputs.dtype == torch.float32


def valid_arrays() -> dict[str, object]:
    """Arguments of a valid ``batch_from_arrays`` call; tests override one at a time."""
    return {
        "images": np.zeros((4, 8, 8, 3), np.uint8),
        "labels": np.zeros(4, np.int64),
        "num_classes": 2,
        "mean": CIFAR10_MEAN,
        "std": CIFAR10_STD,
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"images": np.zeros((4, 8, 8), np.uint8)}, "4-D NHWC"),
        ({"images": np.zeros((4, 8, 8, 3), np.int32)}, "uint8 or floating"),
        ({"images": np.full((4, 8, 8, 3), np.nan)}, "NaN"),
        ({"labels": np.zeros(5, np.int64)}, "4 images but 5 labels"),
        ({"labels": np.full(4, 2)}, "out of range"),
        ({"num_classes": 0}, "num_classes must be >= 1"),
        ({"mean": (0.0,)}, "one value per channel"),
        ({"std": (1.0, 0.0, 1.0)}, "std must be positive"),
        ({"std": (1.0, float("inf"), 1.0)}, "std must be finite"),
    ],
)
def test_batch_from_arrays_rejects_bad_input(override: dict[str, object], message: str) -> None:
    batch_from_arrays(**valid_arrays(), batch_size=2, seed=0)  # type: ignore[arg-type]
    arguments = valid_arrays() | override  # only the override can make the call fail
    with pytest.raises(DataError, match=message):
        batch_from_arrays(**arguments, batch_size=2, seed=0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# npz sources
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cifar10_sample(shared_data: Path) -> Path:
    """The 5000-image CIFAR-10 sample of the reference data (skips when absent)."""
    path = shared_data / "cifar10_sample.npz"
    if not path.is_file():
        pytest.skip(f"reference CIFAR-10 sample not found at {path}")
    return path


def test_load_npz_arrays_reads_the_reference_sample(cifar10_sample: Path) -> None:
    images, labels, num_classes = load_npz_arrays(cifar10_sample)
    assert images.shape == (4000, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (4000,) and labels.dtype == np.int64
    assert num_classes == 10
    test_images, test_labels, _ = load_npz_arrays(cifar10_sample, split="test")
    assert test_images.shape == (1000, 32, 32, 3) and test_labels.shape == (1000,)


def test_npz_batch_is_deterministic_and_seeded(cifar10_sample: Path) -> None:
    first = npz_batch(cifar10_sample, 64, seed=7)
    torch.manual_seed(31337)
    np.random.seed(31337)
    second = npz_batch(cifar10_sample, 64, seed=7)
    assert_batches_identical(first, second)
    assert first.inputs.shape == (64, 3, 32, 32) and first.num_classes == 10
    assert not torch.equal(first.inputs, npz_batch(cifar10_sample, 64, seed=8).inputs)


def test_npz_batch_images_are_distinct(cifar10_sample: Path) -> None:
    batch = npz_batch(cifar10_sample, 256, seed=1)
    assert len(torch.unique(batch.inputs.flatten(1), dim=0)) == 256


def test_npz_batch_normalisation_centres_channels(cifar10_sample: Path) -> None:
    batch = npz_batch(cifar10_sample, 4000, seed=0)
    channel_mean = batch.inputs.mean(dim=(0, 2, 3))
    channel_std = batch.inputs.std(dim=(0, 2, 3))
    assert torch.all(channel_mean.abs() < 0.05), channel_mean
    assert torch.all((channel_std - 1).abs() < 0.05), channel_std


def test_npz_batch_class_balanced(cifar10_sample: Path) -> None:
    batch = npz_batch(cifar10_sample, seed=2, per_class=10)
    assert batch.inputs.shape == (100, 3, 32, 32)
    assert torch.bincount(batch.targets, minlength=10).tolist() == [10] * 10
    assert_batches_identical(batch, npz_batch(cifar10_sample, 100, seed=2, per_class=10))
    with pytest.raises(DataError, match="batch_size must be None or 100"):
        npz_batch(cifar10_sample, 64, per_class=10)
    with pytest.raises(DataError, match="fewer images"):
        npz_batch(cifar10_sample, per_class=400)  # the smallest class has 366 images


def test_npz_batch_too_large(cifar10_sample: Path) -> None:
    with pytest.raises(DataError, match="exceeds the 1000 images"):
        npz_batch(cifar10_sample, 1001, split="test")


def test_npz_num_classes_from_labels_without_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = write_npz(tmp_path / "d.npz", x_train=fake_images(10, rng), y_train=np.arange(10) % 4)
    assert load_npz_arrays(path)[2] == 4
    named = write_npz(
        tmp_path / "n.npz",
        x_train=fake_images(10, rng),
        y_train=np.arange(10) % 4,
        class_names=np.array([f"c{i}" for i in range(6)]),
    )
    assert load_npz_arrays(named)[2] == 6
    assert npz_batch(named, 3).num_classes == 6


def test_npz_refuses_pickled_object_arrays(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="pickle|[Oo]bject"):
        load_npz_arrays(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"y_train": None}, r"lacks key\(s\) \['y_train'\]"),
        ({"x_train": np.zeros((2, 4, 4), np.uint8)}, "4-D NHWC"),
        ({"x_train": np.zeros((2, 4, 4, 3), np.int16)}, "uint8 or floating"),
        ({"y_train": np.zeros((2, 1), np.int64)}, "1-D"),
        ({"y_train": np.zeros(3, np.int64)}, "2 images but 3 labels"),
        ({"y_train": np.array([0, -1])}, "non-negative"),
        ({"y_train": np.array([0.0, 1.0])}, "integers"),
        ({"y_train": np.array([0, 3]), "class_names": np.array(["a", "b"])}, "out of range"),
        ({"class_names": np.array([["a", "b"]])}, "class_names must be a non-empty 1-D"),
    ],
)
def test_load_npz_arrays_rejects_malformed_archives(
    tmp_path: Path, override: dict[str, np.ndarray | None], message: str
) -> None:
    arrays = {"x_train": np.zeros((2, 4, 4, 3), np.uint8), "y_train": np.array([0, 1])}
    arrays |= override
    path = write_npz(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(DataError, match=message):
        load_npz_arrays(path)


def test_load_npz_arrays_rejects_missing_and_non_npz_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_npz_arrays(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match="cannot read"):
        load_npz_arrays(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz_arrays(single)


# ---------------------------------------------------------------------------------------------
# CIFAR pickle directories, written in the official format by the tests themselves
# ---------------------------------------------------------------------------------------------


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: bytes) -> None:
    """Pickle NHWC ``images`` the way the official CIFAR python batches store them."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)  # R, G, B planes
    record = {
        b"batch_label": b"fake batch",
        label_key: [int(label) for label in labels],
        b"data": np.ascontiguousarray(rows),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    if label_key == b"fine_labels":
        record[b"coarse_labels"] = [int(label) // 5 for label in labels]
    with path.open("wb") as f:
        pickle.dump(record, f)


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A fake CIFAR-10 root: 5 training batches of 20 images (2 per class) and a test batch."""
    rng = np.random.default_rng(0)
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    images = fake_images(100, rng)
    labels = np.arange(100) % 10
    for i in range(5):
        part = slice(20 * i, 20 * (i + 1))
        write_cifar_batch(directory / f"data_batch_{i + 1}", images[part], labels[part], b"labels")
    write_cifar_batch(directory / "test_batch", images[:10], labels[:10], b"labels")
    return tmp_path, images, labels


def test_load_cifar_arrays_restores_nhwc_layout(
    cifar10_dir: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    root, images, labels = cifar10_dir
    for location in (root, root / "cifar-10-batches-py"):
        loaded_images, loaded_labels, num_classes = load_cifar_arrays(location)
        assert np.array_equal(loaded_images, images)
        assert np.array_equal(loaded_labels, labels) and loaded_labels.dtype == np.int64
        assert num_classes == 10
    assert len(load_cifar_arrays(root, split="test")[0]) == 10


def test_cifar_batch_matches_the_shared_core(
    cifar10_dir: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    root, images, labels = cifar10_dir
    batch = cifar_batch(root, 16, seed=4)
    assert batch.inputs.shape == (16, 3, 32, 32) and batch.num_classes == 10
    expected = batch_from_arrays(images, labels, 10, 16, 4, CIFAR10_MEAN, CIFAR10_STD)
    assert_batches_identical(batch, expected)
    assert_batches_identical(batch, cifar_batch(root, 16, seed=4))


def test_cifar_batch_class_balanced(cifar10_dir: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, _, _ = cifar10_dir
    batch = cifar_batch(root, seed=1, per_class=3)
    assert torch.bincount(batch.targets, minlength=10).tolist() == [3] * 10
    with pytest.raises(DataError, match="fewer images"):
        cifar_batch(root, per_class=11)


def test_cifar100_uses_fine_labels_and_its_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    directory = tmp_path / "cifar-100-python"
    directory.mkdir()
    images, labels = fake_images(200, rng), np.arange(200) % 100
    write_cifar_batch(directory / "train", images, labels, b"fine_labels")
    write_cifar_batch(directory / "test", images[:50], labels[:50], b"fine_labels")
    batch = cifar_batch(tmp_path, 8, seed=0, dataset="cifar100")
    assert batch.num_classes == 100
    expected = batch_from_arrays(images, labels, 100, 8, 0, CIFAR100_MEAN, CIFAR100_STD)
    assert_batches_identical(batch, expected)
    balanced = cifar_batch(tmp_path, dataset="cifar100", per_class=2)
    assert torch.bincount(balanced.targets, minlength=100).tolist() == [2] * 100
    assert len(load_cifar_arrays(tmp_path, "cifar100", "test")[1]) == 50


def test_cifar_errors(cifar10_dir: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    root, _, _ = cifar10_dir
    with pytest.raises(DataError, match="directory not found"):
        cifar_batch(tmp_path / "nowhere", 4)
    with pytest.raises(DataError, match="dataset must be one of"):
        cifar_batch(root, 4, dataset="cifar1000")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="split must be"):
        cifar_batch(root, 4, split="valid")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="exceeds the 100 images"):
        cifar_batch(root, 101)
    with pytest.raises(DataError, match="cifar-100-python|train"):
        cifar_batch(root, 4, dataset="cifar100")
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        cifar_batch(root, 4)


def test_cifar_rejects_corrupt_batches(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    (directory / "test_batch").write_bytes(b"\x00 definitely not a pickle")
    with pytest.raises(DataError, match="cannot unpickle"):
        cifar_batch(tmp_path, 1, split="test")
    with (directory / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"\(N, 3072\)"):
        cifar_batch(tmp_path, 1, split="test")
    with (directory / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(DataError, match="b'labels'"):
        cifar_batch(tmp_path, 1, split="test")
