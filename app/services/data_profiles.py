"""Data profiles: the batches proxies score, configured or uploaded."""

from __future__ import annotations

import io
import zipfile

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
    _check_expanded_sizes(blob, settings)
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


def _check_expanded_sizes(blob: bytes, settings: Settings) -> None:
    """Refuse an .npz whose arrays would expand past the limits, from its zip headers alone
    (a few hundred kilobytes of zeros compress from hundreds of megabytes). A file that is
    not a zip archive is left to the loader, which says what is wrong with it."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        return
    largest = max(members, key=lambda member: member.file_size, default=None)
    if largest is not None and largest.file_size > settings.max_upload_array_bytes:
        raise TooLarge(
            "upload_too_large",
            f"file: array {largest.filename!r} expands to {largest.file_size} bytes; at most "
            f"{settings.max_upload_array_bytes} (ZC_MAX_UPLOAD_ARRAY_BYTES)",
            "file",
        )
    total = sum(member.file_size for member in members)
    if total > settings.max_upload_expanded_bytes:
        raise TooLarge(
            "upload_too_large",
            f"file: the arrays expand to {total} bytes; at most "
            f"{settings.max_upload_expanded_bytes} (ZC_MAX_UPLOAD_EXPANDED_BYTES)",
            "file",
        )
