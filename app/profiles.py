"""Data profiles: the batch a job scores on, described by a validated config.

A profile is content-hashed: the same config (and, for uploads, the same file bytes) is the
same profile, so scores computed on it are shared. Server-side files are named, never
given as paths: an ``npz`` profile names a file inside the configured data directory.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from zero_cost import data

from .fields import Id, Seed
from .renames import AcceptsRenamed

BatchSize = Annotated[int, Field(ge=1, le=4096)]
PerClass = Annotated[int | None, Field(ge=1, le=4096)]
ChannelStats = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1, max_length=4)
]


class ProfileError(ValueError):
    """A profile cannot be used (missing file, bad upload, unsatisfiable request)."""


class _Config(BaseModel):
    # Strict: a JSON string is never taken for a number ("batch_size": "8" is a 422).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SyntheticData(_Config):
    """Gaussian inputs with uniform labels."""

    source: Literal["synthetic"] = "synthetic"
    batch_size: BatchSize = 64
    seed: Seed = 0
    input_shape: Annotated[
        list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=1, max_length=3)
    ] = [3, 32, 32]  # noqa: E501
    num_classes: Annotated[int, Field(ge=2, le=100_000)] = 10


class NpzData(_Config):
    """Images from an .npz file in the server's data directory (ZC_DATA_DIR)."""

    source: Literal["npz"] = "npz"
    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.npz$")] = (
        "cifar10_sample.npz"
    )
    split: Literal["train", "test"] = "train"
    batch_size: BatchSize = 64
    seed: Seed = 0
    per_class: PerClass = None
    mean: ChannelStats = list(data.CIFAR10_MEAN)
    std: ChannelStats = list(data.CIFAR10_STD)


class CifarData(_Config):
    """Images from the official CIFAR-10/100 python pickles in the server's data directory."""

    source: Literal["cifar10", "cifar100"] = "cifar10"
    split: Literal["train", "test"] = "train"
    batch_size: BatchSize = 64
    seed: Seed = 0
    per_class: PerClass = None


class UploadedData(_Config, AcceptsRenamed):
    """A profile created earlier with POST /v1/data-profiles."""

    RENAMED: ClassVar[dict[str, str]] = {"profile_id": "data_profile_id"}

    source: Literal["uploaded"] = "uploaded"
    data_profile_id: Id


DataConfig = Annotated[
    SyntheticData | NpzData | CifarData | UploadedData, Field(discriminator="source")
]
DATA_SOURCES = frozenset(
    source
    for kind in (SyntheticData, NpzData, CifarData, UploadedData)
    for source in get_args(kind.model_fields["source"].annotation)
)
"""The ``source`` of each kind of ``DataConfig``."""


class UploadSettings(_Config):
    """How to draw the batch from an uploaded .npz (keys x_train/y_train)."""

    batch_size: BatchSize = 64
    seed: Seed = 0
    per_class: PerClass = None
    mean: ChannelStats = list(data.CIFAR10_MEAN)
    std: ChannelStats = list(data.CIFAR10_STD)


DataConfigAdapter: TypeAdapter[DataConfig] = TypeAdapter(DataConfig)
CIFAR10_SAMPLE = "cifar10_sample.npz"


def default_data(configured: str | None, data_dir: str | None) -> DataConfig:
    """The data a request that names none is scored on: ``configured`` (JSON of a data
    config, ZC_DEFAULT_DATA) when set, else the CIFAR-10 sample when it is in the data
    directory, else a synthetic batch.

    Raises:
        pydantic.ValidationError: ``configured`` is not a valid data config.
    """
    if configured:
        return DataConfigAdapter.validate_json(configured)
    if data_dir and (Path(data_dir) / CIFAR10_SAMPLE).is_file():
        return NpzData(file=CIFAR10_SAMPLE)
    return SyntheticData()


def describe(source: str, config: dict) -> str:
    """A profile in one line, e.g. "64 images of cifar10_sample.npz (train split, seed 0)"."""
    count = (
        f"{config['per_class']} images per class"
        if config.get("per_class")
        else f"{config.get('batch_size')} images"
    )
    seed = f"seed {config.get('seed', 0)}"
    if source == "synthetic":
        shape = "x".join(str(n) for n in config.get("input_shape", []))
        return (
            f"{config.get('batch_size')} synthetic Gaussian inputs of shape {shape}, "
            f"{config.get('num_classes')} classes ({seed}): not real data"
        )
    if source == "npz":
        return f"{count} of {config.get('file')} ({config.get('split')} split, {seed})"
    if source == "uploaded":
        return f"{count} of an uploaded .npz ({seed})"
    return f"{count} of {source} ({config.get('split')} split, {seed})"


CLASSES_OF = {"cifar10": 10, "cifar100": 100}
"""Classes of the sources whose class count is known without reading the data."""


def batch_shape(source: str, config: dict) -> tuple[int, int] | None:
    """(batch size, classes) a profile draws, when known without loading its data: a
    per-class draw from an .npz (server file or upload) depends on the labels it holds."""
    classes = config["num_classes"] if source == "synthetic" else CLASSES_OF.get(source)
    if config.get("per_class") is None:
        return config["batch_size"], classes or 10
    return None if classes is None else (config["per_class"] * classes, classes)


def profile_key(source: str, config: dict, blob: bytes | None = None) -> str:
    """The content hash identifying a profile."""
    payload = json.dumps({"source": source, "config": config}, sort_keys=True)
    if blob is not None:
        payload += hashlib.sha256(blob).hexdigest()
    return hashlib.sha256(payload.encode()).hexdigest()


def load_batch(source: str, config: dict, blob: bytes | None, data_dir: str | None) -> data.Batch:
    """The batch a stored profile describes.

    Raises:
        ProfileError: the data cannot be found or does not satisfy the profile.
    """
    try:
        if source == "synthetic":
            return data.synthetic_batch(
                config["batch_size"], config["input_shape"], config["num_classes"], config["seed"]
            )
        if source == "uploaded":
            return data.npz_batch(
                io.BytesIO(blob or b""),
                config["batch_size"] if config.get("per_class") is None else None,
                config["seed"],
                mean=config["mean"],
                std=config["std"],
                per_class=config.get("per_class"),
            )
        directory = _data_dir(data_dir)
        batch_size = config["batch_size"] if config.get("per_class") is None else None
        if source == "npz":
            return data.npz_batch(
                directory / config["file"],
                batch_size,
                config["seed"],
                config["split"],
                config["mean"],
                config["std"],
                config.get("per_class"),
            )
        return data.cifar_batch(
            directory, batch_size, config["seed"], source, config["split"], config.get("per_class")
        )
    except data.DataError as error:
        raise ProfileError(str(error)) from error


def check_available(source: str, config: dict, data_dir: str | None) -> None:
    """Fail fast, before a job is queued, when a server-side file is missing."""
    if source == "npz" and not (_data_dir(data_dir) / config["file"]).is_file():
        raise ProfileError(f"data file {config['file']!r} is not in the server's data directory")
    if source in {"cifar10", "cifar100"}:
        _data_dir(data_dir)


def _data_dir(data_dir: str | None) -> Path:
    if not data_dir or not Path(data_dir).is_dir():
        raise ProfileError("the server has no data directory configured (ZC_DATA_DIR)")
    return Path(data_dir)
