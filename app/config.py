"""Service configuration from environment variables (prefix ``ZC_``) and a ``.env`` file.

The database URL is read from ``DATABASE_URL`` (as most platforms set it) or
``ZC_DATABASE_URL``. Every setting is documented in the README's configuration table.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .profiles import DataConfig, DataConfigAdapter, default_data


class Settings(BaseSettings):
    """All settings of the API and the worker."""

    model_config = SettingsConfigDict(env_prefix="ZC_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./zero_cost.db",
        validation_alias=AliasChoices("DATABASE_URL", "ZC_DATABASE_URL"),
        description="SQLAlchemy URL: SQLite file (default) or postgresql+psycopg://...",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated 'key:role' pairs, role 'read' or 'write'; empty = open",
    )
    allow_anonymous: bool = Field(
        default=False,
        description="let `zero-cost serve` listen beyond loopback without API keys (open API)",
    )
    embedded_worker: bool | None = Field(
        default=None,
        description="Run a worker thread inside the API process (default: on for SQLite)",
    )
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=10_000, ge=1)
    max_params: int = Field(default=200_000_000, ge=1, description="refuse larger models")
    max_flops: int = Field(default=200_000_000_000, ge=1, description="per-sample FLOPs limit")
    device_memory_bytes: int | None = Field(
        default=None,
        ge=1,
        description="refuse at submission an architecture whose estimated device memory "
        "(zero_cost.memory) is over this (None: no check)",
    )
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_upload_array_bytes: int = Field(
        default=128 * 1024 * 1024,
        ge=1024,
        description="an uploaded .npz's largest array, decompressed (checked before loading)",
    )
    max_upload_expanded_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="an uploaded .npz's arrays together, decompressed (checked before loading)",
    )
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    claim_batch_size: int = Field(default=4, ge=1)
    poll_seconds: float = Field(default=0.5, gt=0)
    device: str | None = Field(default=None, description="'cuda', 'cuda:N', 'cpu' or None for auto")
    items_in_flight: int = Field(
        default=1,
        ge=1,
        description="items a worker scores at once on its device, one scoring child each",
    )
    item_timeout_seconds: float | None = Field(
        default=600.0,
        gt=0,
        description="kill the scoring process and fail an item scored for longer (None: never)",
    )
    torch_threads: int | None = Field(
        default=None, ge=1, description="CPU threads per worker (default: torch's choice)"
    )
    rank_wait_seconds: float = Field(default=30.0, ge=0)
    predictor_retrain_labels: int | None = Field(
        default=None,
        ge=1,
        description="queue a retrain of the latest predictor of a dataset after this many "
        "newly labelled architectures (None: only on request)",
    )
    data_dir: str | None = Field(
        default=None, description="folder with cifar10_sample.npz / CIFAR pickles for profiles"
    )
    default_data: str | None = Field(
        default=None,
        description="JSON of the data config requests that name none are scored on (default: "
        "the CIFAR-10 sample when it is in data_dir, else a synthetic batch)",
    )

    @field_validator("default_data")
    @classmethod
    def _check_default_data(cls, value: str | None) -> str | None:
        if value:
            DataConfigAdapter.validate_json(value)
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_roles(cls, keys: list[str]) -> list[str]:
        for entry in keys:
            key, _, role = entry.rpartition(":")
            if not key or role not in {"read", "write"}:
                raise ValueError("each API key must be written 'key:read' or 'key:write'")
        return keys

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def runs_embedded_worker(self) -> bool:
        return self.is_sqlite if self.embedded_worker is None else self.embedded_worker

    @property
    def default_data_config(self) -> DataConfig:
        """The data config requests that name none are scored on."""
        return default_data(self.default_data, self.data_dir)

    def key_roles(self) -> dict[str, str]:
        """API key -> role."""
        return dict(entry.rsplit(":", 1) for entry in self.api_keys)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
