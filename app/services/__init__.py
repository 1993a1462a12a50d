"""What the service does, between validated requests and storage: the routes stay thin.

Every function takes the storage and settings it needs and returns the schemas of
``app.schemas``, raising the domain errors of ``app.errors`` (with the field at fault) for
requests it cannot serve; nothing here knows HTTP.

One module per resource or question: ``architectures``, ``data_profiles``, ``score_jobs``,
``accuracies``, ``listings`` (stored scores and accuracies), ``ranking``,
``correlations``, ``predictors`` (and ``predictor_training``, the computation),
``prune_jobs`` (pruning at initialisation as jobs), ``figures``, ``prune_figures``
(the pruning figures) and ``dashboard``; ``population`` holds what the analyses
share, ``proxy_versions`` how a request's proxy names become versions. This package
re-exports what the routes, the worker and the tests call, as
``services.create_score_job(...)``.
"""

from .accuracies import add_accuracies
from .architectures import register_architectures
from .correlations import correlations
from .dashboard import DashboardView, dashboard
from .data_profiles import (
    analysis_profile,
    list_profiles,
    profile_out,
    server_config,
    upload_profile,
)
from .figures import precision_curves, score_column
from .listings import architecture_detail, list_accuracies, list_architectures, list_scores
from .population import PopulationQuery
from .predictors import create_predictor, get_predictor, list_predictors, train_predictor
from .prune_figures import job_id_list, prune_compression_figure, prune_layers_figure
from .prune_jobs import (
    create_prune_job,
    get_prune_job,
    list_prune_jobs,
    pack_masks,
    prune_masks_file,
)
from .ranking import rank
from .score_jobs import (
    IDEMPOTENCY_HEADER,
    cancel_score_job,
    create_score_job,
    get_score_job,
    list_score_jobs,
    request_hash,
    submit_score_job,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "DashboardView",
    "PopulationQuery",
    "add_accuracies",
    "analysis_profile",
    "architecture_detail",
    "cancel_score_job",
    "correlations",
    "create_predictor",
    "create_prune_job",
    "create_score_job",
    "dashboard",
    "get_predictor",
    "get_prune_job",
    "get_score_job",
    "job_id_list",
    "list_accuracies",
    "list_architectures",
    "list_predictors",
    "list_profiles",
    "list_prune_jobs",
    "list_score_jobs",
    "list_scores",
    "pack_masks",
    "precision_curves",
    "profile_out",
    "prune_compression_figure",
    "prune_layers_figure",
    "prune_masks_file",
    "rank",
    "register_architectures",
    "request_hash",
    "score_column",
    "server_config",
    "submit_score_job",
    "train_predictor",
    "upload_profile",
]
