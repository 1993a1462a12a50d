"""Data profiles: the batches proxies score, configured or uploaded."""

from __future__ import annotations

from ..config import Settings
from ..db.records import ProfileRecord
from ..db.storage import Storage
from ..errors import InvalidRequest, TooLarge
from ..profiles import (
    DataConfig,
    ProfileError,
    UploadedData,
    UploadSettings,
    check_available,
    load_batch,
    profile_key,
)
from ..schemas import DataProfileOut


def resolve_profile(storage: Storage, settings: Settings, config: DataConfig) -> ProfileRecord:
    """The stored profile for a job's ``data`` (created if new)."""
    if isinstance(config, UploadedData):
        profile = storage.get_profile(config.profile_id)
        if profile is None or profile.source != "uploaded":
            raise InvalidRequest(
                "unknown_profile",
                f"data.profile_id: no uploaded profile {config.profile_id}",
                "data.profile_id",
            )
        return profile
    values = config.model_dump(exclude={"source"})
    try:
        check_available(config.source, values, settings.data_dir)
    except ProfileError as error:
        raise InvalidRequest("data_unavailable", f"data: {error}", "data") from None
    return storage.get_or_create_profile(profile_key(config.source, values), config.source, values)


def upload_profile(
    storage: Storage, settings: Settings, blob: bytes, options: UploadSettings
) -> DataProfileOut:
    """Store an uploaded .npz batch source after checking that it yields a batch."""
    if len(blob) > settings.max_upload_bytes:
        raise TooLarge(
            "upload_too_large",
            f"file: {len(blob)} bytes; at most {settings.max_upload_bytes}",
            "file",
        )
    config = options.model_dump()
    try:
        load_batch("uploaded", config, blob, settings.data_dir)
    except ProfileError as error:
        raise InvalidRequest("invalid_upload", f"file: {error}", "file") from None
    profile = storage.get_or_create_profile(
        profile_key("uploaded", config, blob), "uploaded", config, blob
    )
    return profile_out(profile)


def profile_out(profile: ProfileRecord) -> DataProfileOut:
    return DataProfileOut(
        id=profile.id, key=profile.key, source=profile.source, config=profile.config
    )
