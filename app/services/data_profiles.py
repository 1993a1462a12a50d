"""Data profiles: the batches proxies score, configured or uploaded."""

from __future__ import annotations

import io
import zipfile

from zero_cost import ensemble, spaces

from ..config import Settings
from ..db.records import ProfileRecord
from ..db.storage import Storage
from ..errors import InvalidRequest, NotFound, TooLarge
from ..profiles import (
    DataConfig,
    ProfileError,
    UploadedData,
    UploadSettings,
    check_available,
    describe,
    load_batch,
    profile_key,
)
from ..schemas import (
    ConfigOut,
    DataProfileList,
    DataProfileOut,
    RecommendedRanker,
    SecondStage,
)


def resolve_profile(
    storage: Storage, settings: Settings, config: DataConfig | None
) -> ProfileRecord:
    """The stored profile for a request's ``data`` (created if new); the server's default
    data when the request names none."""
    config = settings.default_data_config if config is None else config
    if isinstance(config, UploadedData):
        profile = storage.get_profile(config.data_profile_id, blob=False)
        if profile is None or profile.source != "uploaded":
            raise InvalidRequest(
                "unknown_profile",
                f"data.data_profile_id: no uploaded profile {config.data_profile_id}",
                "data.data_profile_id",
            )
        return profile
    values = config.model_dump(exclude={"source"})
    try:
        check_available(config.source, values, settings.data_dir)
    except ProfileError as error:
        raise InvalidRequest("data_unavailable", f"data: {error}", "data") from None
    return storage.get_or_create_profile(profile_key(config.source, values), config.source, values)


def stored_profile_id(
    storage: Storage, settings: Settings, config: DataConfig | None
) -> int | None:
    """The id of the stored profile a request's ``data`` names (the server's default when
    None), or None when it is not stored; nothing is created."""
    config = settings.default_data_config if config is None else config
    if isinstance(config, UploadedData):
        found = storage.get_profile(config.data_profile_id, blob=False)
        return None if found is None else found.id
    return storage.profile_id_for_key(
        profile_key(config.source, config.model_dump(exclude={"source"}))
    )


def analysis_profile(storage: Storage, settings: Settings, profile_id: int | None) -> int:
    """The profile an analysis (correlations, figures, a predictor) is over: ``profile_id``
    checked to exist; when None, the server's default data profile if it has scores, else
    the only profile with scores.

    Raises:
        NotFound: no profile ``profile_id``.
        InvalidRequest: no profile given and no single one to choose; the message lists the
            candidates by id and description.
    """
    if profile_id is not None:
        if storage.get_profile(profile_id, blob=False) is None:
            raise NotFound("data profile", profile_id)
        return profile_id
    candidates = storage.profiles_with_scores()
    default_id = stored_profile_id(storage, settings, None)
    if default_id in candidates:
        return default_id
    if len(candidates) == 1:
        return candidates[0]
    listed = "; ".join(
        f"{p.id}: {describe(p.source, p.config)}"
        for p in (storage.get_profile(c, blob=False) for c in candidates)
        if p is not None
    )
    raise InvalidRequest(
        "profile_required",
        f"data_profile_id: the server's default data profile has no scores and "
        f"{len(candidates)} profiles do; choose one ({listed or 'none has scores yet'})",
        "data_profile_id",
    )


def profile_description(storage: Storage, profile_id: int) -> str:
    """What the stored profile ``profile_id`` is, in one line."""
    profile = storage.get_profile(profile_id, blob=False)
    return f"#{profile_id}" if profile is None else describe(profile.source, profile.config)


def list_profiles(storage: Storage, limit: int, offset: int) -> DataProfileList:
    """The data profiles, oldest first."""
    records, count = storage.list_profiles(limit, offset)
    data = [profile_out(r) for r in records]
    return DataProfileList(data=data, count=count, limit=limit, offset=offset)


def server_config(storage: Storage, settings: Settings) -> ConfigOut:
    default = settings.default_data_config
    if isinstance(default, UploadedData):  # the upload's own settings describe it
        description = profile_description(storage, default.data_profile_id)
    else:
        description = describe(default.source, default.model_dump())
    return ConfigOut(
        default_data=default.model_dump(),
        default_data_description=description,
        recommended_rankers={
            space: RecommendedRanker(
                proxies=list(choice.ranker.proxies),
                ensemble=choice.ranker.method,
                second_stage=SecondStage.of(choice.ranker.second_stage),
                chosen_on=choice.chosen_on,
            )
            for space in spaces.names()
            for choice in [ensemble.recommended(space)]
        },
        max_batch_items=settings.max_batch_items,
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        max_upload_array_bytes=settings.max_upload_array_bytes,
        max_upload_expanded_bytes=settings.max_upload_expanded_bytes,
    )


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
        id=profile.id,
        key=profile.key,
        source=profile.source,
        config=profile.config,
        description=describe(profile.source, profile.config),
    )


def _check_expanded_sizes(blob: bytes, settings: Settings) -> None:
    """Refuse an .npz whose arrays would expand past the limits, from its zip headers alone
    (a few hundred kilobytes of zeros compress from hundreds of megabytes). A file that is
    not a zip archive is left to the loader, which says what is wrong with it."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, NotImplementedError, OSError, EOFError):
        return  # not a zip archive this module can read: the loader says what is wrong
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
