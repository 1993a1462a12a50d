"""/v1/data-profiles: upload a small .npz batch source to score on your own data."""

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import ConfigDict

from ... import services
from ...errors import NotFound
from ...profiles import UploadSettings
from ...schemas import DataProfileList, DataProfileOut
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath, Limit, Offset

router = APIRouter(prefix="/v1/data-profiles", tags=["data profiles"])


class UploadForm(UploadSettings):
    """The multipart form: the file and the batch settings. The file is a field of the form
    model because the model forbids unknown fields, and the form's ``file`` part is one.
    Form fields are text, so numbers are parsed from it (not strict, unlike JSON bodies)."""

    model_config = ConfigDict(strict=False)

    file: UploadFile = File(description=".npz with x_train (NHWC) and y_train")


@router.post("", response_model=DataProfileOut, status_code=201, dependencies=[WriteAccess])
def upload_profile(
    storage: StorageDep,
    settings: SettingsDep,
    form: Annotated[UploadForm, Form()],
    response: Response,
) -> DataProfileOut:
    """Store an .npz (read without pickles) as a content-hashed data profile."""
    blob = form.file.file.read(settings.max_upload_bytes + 1)
    options = UploadSettings(**form.model_dump(exclude={"file"}))
    profile = services.upload_profile(storage, settings, blob, options)
    response.headers["Location"] = f"{router.prefix}/{profile.id}"
    return profile


@router.get("", response_model=DataProfileList, dependencies=[ReadAccess])
def list_profiles(
    storage: StorageDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DataProfileList:
    """The data profiles, oldest first, each with its one-line description."""
    return services.list_profiles(storage, limit, offset)


@router.get("/{data_profile_id}", response_model=DataProfileOut, dependencies=[ReadAccess])
def get_profile(data_profile_id: IdPath, storage: StorageDep) -> DataProfileOut:
    profile = storage.get_profile(data_profile_id, blob=False)
    if profile is None:
        raise NotFound("data profile", data_profile_id)
    return services.profile_out(profile)
