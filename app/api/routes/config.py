"""/v1/config: what this server does for requests that leave things out, and its limits."""

from fastapi import APIRouter

from ... import services
from ...schemas import ConfigOut
from ..deps import ReadAccess, SettingsDep, StorageDep

router = APIRouter(prefix="/v1/config", tags=["config"])


@router.get("", response_model=ConfigOut, dependencies=[ReadAccess])
def get_config(storage: StorageDep, settings: SettingsDep) -> ConfigOut:
    """The default data profile (what a score job, rank or correlation request that names no
    data or profile uses) and the request limits."""
    return services.server_config(storage, settings)
