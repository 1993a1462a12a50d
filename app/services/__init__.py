"""What the API does, between validated requests and storage: the routes stay thin.

Every function takes the storage and settings it needs and returns API schemas, raising
``ApiError`` with the field at fault for requests it cannot serve.

One module per resource: ``architectures``, ``data_profiles`` (and proxy versions),
``score_jobs``, ``accuracies``, ``population`` (rank and correlations, over the scores as
a population), ``predictors`` and ``figures`` (and the dashboard). This package re-exports
what the routes, the worker and the tests call, as ``services.create_score_job(...)``.
"""

from .accuracies import add_accuracies
from .architectures import architecture_detail, register_architectures
from .data_profiles import profile_out, upload_profile
from .figures import dashboard, precision_curves, score_column
from .population import correlations, rank
from .predictors import create_predictor, get_predictor, list_predictors, train_predictor
from .score_jobs import (
    IDEMPOTENCY_HEADER,
    cancel_score_job,
    create_score_job,
    get_score_job,
    request_hash,
    submit_score_job,
)

# Not the function ``population`` (from ``.population``): it would hide that submodule.
__all__ = [
    "IDEMPOTENCY_HEADER",
    "add_accuracies",
    "architecture_detail",
    "cancel_score_job",
    "correlations",
    "create_predictor",
    "create_score_job",
    "dashboard",
    "get_predictor",
    "get_score_job",
    "list_predictors",
    "precision_curves",
    "profile_out",
    "rank",
    "register_architectures",
    "request_hash",
    "score_column",
    "submit_score_job",
    "train_predictor",
    "upload_profile",
]
