"""What the GPU tests share: the marks that select them (``pytest -m gpu``) and skip them
without CUDA, and a migrated SQLite database with NB201 architectures and a synthetic data
profile, built without the service's test fixtures (``scripts/gpu_check.sh`` runs this
folder alone, without the conftest files, on a machine that has only what scoring needs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from app.db import migrations
from app.db.records import ArchitectureRecord, ProfileRecord
from app.db.session import make_engine
from app.db.storage import NewArchitecture, Storage
from app.profiles import SyntheticData, profile_key
from zero_cost import proxies, spaces

GPU = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA device (torch.cuda.is_available() is False); "
        "run scripts/gpu_check.sh on a GPU machine",
    ),
]
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_3x3~0|nor_conv_3x3~1|avg_pool_3x3~2|",
]
SIX = ["snip", "grasp", "synflow", "grad_norm", "fisher", "jacob_cov"]  # benchmarks/speed.py


def versions(names: list[str]) -> list[tuple[str, str]]:
    """(name, version) pairs of registered proxies, as a job names them."""
    return [(name, proxies.get(name).version) for name in names]


def nb201(cell: str) -> NewArchitecture:
    """An NB201 cell at the benchmark's size (C=16, N=5), as the API would store it."""
    space = spaces.get("nb201")
    arch = space.parse(cell)
    return NewArchitecture(
        space="nb201",
        settings=json.dumps({}),
        identity_key=space.identity_key(arch),
        canonical_key=space.canonical_key(arch),
        spec=json.dumps(space.to_spec(arch)),
        is_degenerate=arch.is_degenerate,
        params=space.param_count(arch),
        flops=space.flops(arch),
    )


def database(tmp_path: Path, batch_size: int = 64) -> tuple[str, Storage, ProfileRecord]:
    """A migrated SQLite database in ``tmp_path``: its URL, storage (dispose its engine) and
    a synthetic profile of ``batch_size`` CIFAR-shaped samples."""
    url = f"sqlite:///{tmp_path}/gpu.db"
    migrations.upgrade(url)
    storage = Storage(make_engine(url))
    config = SyntheticData(batch_size=batch_size, seed=0).model_dump()
    profile = storage.get_or_create_profile(profile_key("synthetic", config), "synthetic", config)
    return url, storage, profile


def architectures(storage: Storage, cells: list[str]) -> list[ArchitectureRecord]:
    """The stored records of ``cells``, in order."""
    ids = [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells])]
    records = storage.get_architectures(ids)
    return [records[i] for i in ids]
