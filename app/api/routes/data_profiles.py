"""/v1/data-profiles: upload a small .npz batch source to score on your own data."""

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from ... import services
from ...profiles import UploadSettings
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..errors import not_found
from ..schemas import DataProfileOut

router = APIRouter(prefix="/v1/data-profiles", tags=["data profiles"])


@router.post("", response_model=DataProfileOut, status_code=201, dependencies=[WriteAccess])
def upload_profile(
    storage: StorageDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description=".npz with x_train (NHWC) and y_train")],
    options: Annotated[UploadSettings, Form()],
) -> DataProfileOut:
    """Store an .npz (read without pickles) as a content-hashed data profile."""
    blob = file.file.read(settings.max_upload_bytes + 1)
    return services.upload_profile(storage, settings, blob, options)


@router.get("/{profile_id}", response_model=DataProfileOut, dependencies=[ReadAccess])
def get_profile(profile_id: int, storage: StorageDep) -> DataProfileOut:
    profile = storage.get_profile(profile_id)
    if profile is None:
        raise not_found("data profile", profile_id)
    return services.profile_out(profile)
