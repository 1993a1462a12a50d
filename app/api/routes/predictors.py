"""/v1/predictors: learned accuracy predictors, trained by the workers as jobs.

The model is produced and read by the service only: no route accepts or returns it.
"""


from fastapi import APIRouter, Response

from ... import services
from ...schemas import PredictorIn, PredictorList, PredictorOut
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath, Limit, Offset

router = APIRouter(prefix="/v1/predictors", tags=["predictors"])


@router.post("", response_model=PredictorOut, status_code=202, dependencies=[WriteAccess])
def create_predictor(
    body: PredictorIn, storage: StorageDep, settings: SettingsDep, response: Response
) -> PredictorOut:
    """Queue the training of a predictor: the next version of this configuration, trained by
    a worker on the scores and accuracies stored then. Poll GET /v1/predictors/{id}
    (the `Location` header)."""
    predictor = services.create_predictor(storage, settings, body)
    response.headers["Location"] = f"{router.prefix}/{predictor.id}"
    return predictor


@router.get("", response_model=PredictorList, dependencies=[ReadAccess])
def list_predictors(
    storage: StorageDep,
    dataset: str | None = None,
    metric: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PredictorList:
    """Predictors, the newest first."""
    return services.list_predictors(storage, dataset, metric, limit, offset)


@router.get("/{predictor_id}", response_model=PredictorOut, dependencies=[ReadAccess])
def get_predictor(predictor_id: IdPath, storage: StorageDep) -> PredictorOut:
    """Status, cross-validated metrics and the learning curve."""
    return services.get_predictor(storage, predictor_id)
