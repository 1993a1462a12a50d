"""The request and response contract of the service (Pydantic v2), shared by the API, the
services and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    ValidationInfo,
    field_validator,
)

from zero_cost import ensemble, spaces
from zero_cost.repeats import Repeats

from .fields import Id, Seed
from .profiles import DATA_SOURCES, DataConfig
from .renames import AcceptsRenamed, CarriesDeprecatedSeed

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ItemLimit = 100_000  # hard cap for parsing; the configured batch limit answers 413 below it


class _In(AcceptsRenamed):
    # Strict: a JSON string is never taken for a number ("value": "90" is a 422).
    model_config = ConfigDict(extra="forbid", strict=True)


class FieldError(BaseModel):
    field: str | None
    message: str


class ErrorOut(BaseModel):
    """Every error answer: a stable machine-readable ``code``, a ``message`` for people that
    names the field at fault, that ``field`` when there is one, and for a validation error
    the first ``errors`` (up to 50)."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldError] | None = None


class _Page(BaseModel):
    """One page of a list: ``data``, how many match in all (``count``), and the ``limit``
    and ``offset`` it was cut with."""

    count: int
    limit: int
    offset: int


class ArchitectureIn(_In):
    """An architecture spec in one of the search spaces."""

    space: Name = Field(description=f"search space, one of: {', '.join(spaces.names())}")
    spec: JsonValue = Field(description="the space's spec: a cell string, a dict, ...")
    settings: dict[Name, int] = Field(
        default_factory=dict, description="space settings, e.g. {'channels': 16}"
    )


class ArchitectureBatchIn(_In):
    items: Annotated[list[ArchitectureIn], Field(min_length=1, max_length=ItemLimit)]


# Unions are tagged (the data configs by their ``source``) so that a validation error comes
# from the one branch the input is meant for, located by its field path alone: ``errors``
# drops these tags from locations.
UNION_TAGS = frozenset({"ArchitectureId", "ArchitectureIn", "ArchitectureBatchIn"}) | DATA_SOURCES


def _reference_kind(value: object) -> str:
    return "ArchitectureIn" if isinstance(value, dict | ArchitectureIn) else "ArchitectureId"


def _submission_kind(value: object) -> str:
    batch = isinstance(value, ArchitectureBatchIn) or (isinstance(value, dict) and "items" in value)
    return "ArchitectureBatchIn" if batch else "ArchitectureIn"


ArchitectureRef = Annotated[
    Annotated[Id, Tag("ArchitectureId")] | Annotated[ArchitectureIn, Tag("ArchitectureIn")],
    Discriminator(_reference_kind),
]
ArchitectureSubmission = Annotated[
    Annotated[ArchitectureIn, Tag("ArchitectureIn")]
    | Annotated[ArchitectureBatchIn, Tag("ArchitectureBatchIn")],
    Discriminator(_submission_kind),
]


class ArchitectureOut(BaseModel):
    id: int
    space: str
    settings: dict[str, Any]
    canonical_key: str = Field(
        description="the function-equivalence class: equal for architectures computing the "
        "same function (each is still its own record)"
    )
    is_degenerate: bool
    params: int
    flops: int
    spec: JsonValue
    created: bool | None = Field(default=None, description="new in this request")


class ArchitectureList(_Page):
    data: list[ArchitectureOut]


class ArchitectureBatchOut(BaseModel):
    items: list[ArchitectureOut]
    created: int = Field(description="architectures new in this request (distinct ids)")


MAX_REPEATS = 10
"""The most init seeds, and the most batches, one score may be repeated over."""


class RepeatCounts(_In):
    """How often each proxy is scored (``zero_cost.repeats``): the network built with
    ``init_seeds`` init seeds (``init_seed``, ``init_seed`` + 1, ...), each scored on
    ``batches`` batches of the data profile (drawn with its seed, its seed + 1, ...). The
    score is the mean of the k = init_seeds x batches values (geometric for log-scale proxies
    such as synflow), stored with their standard deviation and k; ensembles rank on the
    means. 1 and 1: one score."""

    init_seeds: Annotated[int, Field(ge=1, le=MAX_REPEATS)] = 1
    batches: Annotated[int, Field(ge=1, le=MAX_REPEATS)] = 1

    @classmethod
    def of(cls, repeats: Repeats) -> RepeatCounts:
        return cls(init_seeds=repeats.init_seeds, batches=repeats.batches)

    def counts(self) -> Repeats:
        """As the library's ``zero_cost.repeats.Repeats``."""
        return Repeats(self.init_seeds, self.batches)


REPEATS_FIELD = Field(
    default_factory=RepeatCounts, description="how often each proxy is scored; default once"
)


class ScoreOut(CarriesDeprecatedSeed):
    architecture_id: int
    proxy: str
    proxy_version: str
    data_profile_id: int
    init_seed: int
    repeats: RepeatCounts = Field(description="the init seeds and batches scored")
    k: int = Field(description="the number of values summarised: init_seeds x batches")
    value: float | None = Field(
        description="the score; repeated, the mean (geometric for log-scale proxies)"
    )
    log_value: float | None = Field(description="its natural log, for log-scale proxies")
    std: float | None = Field(
        description="the standard deviation of the k values (of their logs for log-scale "
        "proxies); 0 for one score, null when not finite or not recorded"
    )
    status: str
    error: str | None
    seconds: float
    device: str


class ScoreList(_Page):
    data: list[ScoreOut]


class AccuracyIn(_In):
    architecture: ArchitectureRef
    dataset: Name
    metric: Name = "test_accuracy"
    value: Annotated[
        float,
        Field(
            allow_inf_nan=False,
            description="a percentage in [0, 100] for a metric named 'accuracy' or ending in "
            "'_accuracy'; any finite number for other metrics (e.g. a loss)",
        ),
    ]
    epochs: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    source: Annotated[str, Field(max_length=128)] = ""

    @field_validator("value")
    @classmethod
    def _percentage_for_accuracies(cls, value: float, info: ValidationInfo) -> float:
        metric = info.data.get("metric", "")
        if (metric == "accuracy" or metric.endswith("_accuracy")) and not 0 <= value <= 100:
            raise ValueError(f"an accuracy is a percentage in [0, 100]; {metric} is {value}")
        return value


class AccuracyBatchIn(_In):
    items: Annotated[list[AccuracyIn], Field(min_length=1, max_length=ItemLimit)]


class AccuracyOut(BaseModel):
    architecture_id: int
    dataset: str
    metric: str
    value: float
    epochs: int
    source: str


class AccuracyBatchOut(BaseModel):
    created: int
    architecture_ids: list[int]


class AccuracyList(_Page):
    data: list[AccuracyOut]


class ArchitectureDetail(ArchitectureOut):
    scores: list[ScoreOut]
    accuracies: list[AccuracyOut]


class ScoreJobIn(_In):
    architectures: Annotated[list[ArchitectureRef], Field(min_length=1, max_length=ItemLimit)]
    proxies: Annotated[list[Name], Field(min_length=1, max_length=32)]
    data: DataConfig | None = Field(
        default=None,
        description="the batch to score on; default: the server's default data profile "
        "(GET /v1/config): the CIFAR-10 sample when the server has it, else a synthetic batch",
    )
    init_seed: Seed = 0
    repeats: RepeatCounts = REPEATS_FIELD


class ItemError(BaseModel):
    architecture_id: int
    status: str
    attempts: int
    error: str | None


class ScoreJobOut(BaseModel):
    id: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    proxies: list[str]
    data_profile_id: int
    data_profile: str = Field(description="what the data profile is, in one line")
    init_seed: int
    repeats: RepeatCounts
    total: int
    counts: dict[str, int]
    errors: list[ItemError]


class ScoreJobList(_Page):
    data: list[ScoreJobOut]


class DataProfileOut(BaseModel):
    id: int
    key: str
    source: str
    config: dict[str, Any]
    description: str = Field(description="what the profile is, in one line")


class DataProfileList(_Page):
    data: list[DataProfileOut]


class SecondStage(_In):
    """Re-rank the first stage's best ``fraction`` of the candidates by ``log_rank`` of
    ``proxies``; they stay above the rest (``zero_cost.ensemble.two_stage``)."""

    proxies: Annotated[list[Name], Field(min_length=1, max_length=32)]
    fraction: float = Field(
        default=0.2, gt=0, le=1, description="the share of the first stage's best re-ranked"
    )

    @classmethod
    def of(cls, stage: ensemble.SecondStage | None) -> SecondStage | None:
        """The API's form of a ranker's second stage (None for none)."""
        if stage is None:
            return None
        return cls(proxies=list(stage.proxies), fraction=stage.fraction)

    def stage(self) -> ensemble.SecondStage:
        """The library's form."""
        return ensemble.SecondStage(tuple(self.proxies), self.fraction)


class RecommendedRanker(BaseModel):
    proxies: list[str] = Field(description="the first stage's proxies")
    ensemble: str = Field(description="the first stage's aggregation")
    second_stage: SecondStage | None = Field(
        description="what re-ranks the first stage's best, if anything"
    )
    chosen_on: str = Field(description="the space whose reference cells it was chosen on")


class ConfigOut(BaseModel):
    """What this server does for requests that leave things out, and its limits."""

    default_data: dict[str, Any] = Field(
        description="the data config of requests that name none (ZC_DEFAULT_DATA)"
    )
    default_data_description: str
    recommended_rankers: dict[str, RecommendedRanker] = Field(
        description="per space, the label-free ranker of a rank request that names no proxies"
    )
    max_batch_items: int
    max_request_bytes: int
    max_upload_bytes: int
    max_upload_array_bytes: int
    max_upload_expanded_bytes: int


class RankIn(_In):
    RENAMED: ClassVar[dict[str, str]] = {"candidates": "architectures"}

    architectures: Annotated[list[ArchitectureRef], Field(min_length=1, max_length=ItemLimit)]
    proxies: Annotated[list[Name] | None, Field(min_length=1, max_length=32)] = Field(
        default=None,
        description="the first stage's proxies; default: those of the recommended label-free "
        "ranker of the architectures' space (GET /v1/config, `recommended_rankers`)",
    )
    ensemble: Literal["vote", "mean_rank", "log_rank", "learned"] | None = Field(
        default=None,
        description="default: log_rank, or with no proxies the recommended ranker's "
        "aggregation; 'learned': the latest "
        "succeeded predictor for (dataset, metric), this data profile and seed, trained on "
        "exactly these proxies",
    )
    data: DataConfig | None = Field(
        default=None,
        description="the batch to score on; default: the server's default data profile "
        "(GET /v1/config): the CIFAR-10 sample when the server has it, else a synthetic batch",
    )
    second_stage: SecondStage | None = Field(
        default=None,
        description="re-rank the first stage's best by these proxies; default: with no "
        "proxies, the recommended ranker's second stage (none with ensemble 'learned', where "
        "giving one is a 422); with proxies, none. `null` is the default: to rank by the "
        "recommended ranker's first stage alone, name its proxies",
    )
    init_seed: Seed = 0
    repeats: RepeatCounts = REPEATS_FIELD
    wait: bool = Field(default=False, description="block (bounded) until all are scored")
    dataset: Name | None = Field(default=None, description="with ensemble 'learned' only")
    metric: Name = Field(default="test_accuracy", description="with ensemble 'learned' only")


class RankedCandidate(BaseModel):
    architecture_id: int
    rank: int | None = Field(description="1 = best; null when not scored yet")
    score: float | None = Field(
        description="the ranker's score (higher is better): a single proxy's own value, or "
        "an ensemble's, relative to the candidates ranked together; with a second stage, its "
        "re-ranked group scores in (1, 2], the rest in (0, 1]"
    )
    scores: dict[str, float | None] = Field(
        description="each proxy's stored score (log for log-scale proxies), null where none; "
        "a rank scores a second stage's proxies only for the first stage's best"
    )


class RankOut(BaseModel):
    complete: bool = Field(
        description="every candidate has the scores its rank needs: the first stage's, and "
        "a second stage's where it is among the first stage's best"
    )
    job_id: int | None
    proxy_versions: dict[str, str] = Field(
        description="the proxies ranked on (of both stages), with versions"
    )
    ensemble: str = Field(description="the aggregation (or 'learned') of the first stage")
    second_stage: SecondStage | None = Field(
        description="the second stage that re-ranked the first stage's best, if any"
    )
    data_profile_id: int
    data_profile: str = Field(description="what the data profile is, in one line")
    init_seed: int
    repeats: RepeatCounts = Field(description="how often each proxy was scored")
    ranking: list[RankedCandidate]
    predictor_id: int | None = Field(default=None, description="with ensemble 'learned'")
    note: str | None = Field(default=None, description="e.g. the predictor is in fallback mode")


class CorrelationRow(BaseModel):
    name: str
    kind: Literal["proxy", "ensemble", "learned"]
    n: int
    spearman: float | None
    kendall_tau_b: float | None
    pearson: float | None
    pairwise_agreement: float | None
    precision_at_k: dict[str, float | None]
    spearman_ci: list[float | None]
    kendall_ci: list[float | None]
    pearson_ci: list[float | None]
    note: str | None = Field(
        default=None,
        description="for the learned row: which predictor, and whether it is in fallback mode "
        "(then it ranks by its fallback, not by a learned model); for the 'recommended' "
        "ensemble row (the recommended label-free ranker of the architectures' space, present "
        "when they share a space and every proxy of it has scores): that ranker",
    )


class CorrelationsOut(CarriesDeprecatedSeed):
    dataset: str
    metric: str
    data_profile_id: int
    data_profile: str = Field(description="what the data profile is, in one line")
    init_seed: int
    repeats: RepeatCounts = Field(description="how often each proxy was scored")
    n_architectures: int
    rows: list[CorrelationRow]


class PredictorIn(_In):
    """Train a learned predictor (a new version of its configuration)."""

    RENAMED: ClassVar[dict[str, str]] = {"profile_id": "data_profile_id"}

    dataset: Name
    metric: Name = "test_accuracy"
    data_profile_id: Id | None = Field(
        default=None,
        description="data profile of the scores; default: the server's default data profile "
        "when it has scores, else the only profile with scores",
    )
    proxies: Annotated[list[Name] | None, Field(min_length=1, max_length=32)] = Field(
        default=None, description="default: every proxy with scores on the profile"
    )
    features: Literal["proxies", "proxies+encoding"] = "proxies+encoding"
    space: Name = "nb201"
    init_seed: Seed = 0
    min_labels: Annotated[int, Field(ge=2, le=1_000_000)] = Field(
        default=20,
        description="fewer labelled architectures: the label-free baseline without trying a "
        "model; with more, a model is used only where it beats that baseline in "
        "cross-validation on the labelled architectures",
    )


class LearningCurvePoint(BaseModel):
    labels: int
    spearman_mean: float | None
    spearman_std: float | None
    repeats: int


class PredictorOut(BaseModel):
    """A predictor's configuration, state and out-of-sample quality (never its model)."""

    id: int
    version: int
    status: Literal["queued", "running", "succeeded", "failed"]
    error: str | None
    dataset: str
    metric: str
    data_profile_id: int
    init_seed: int
    space: str
    proxies: list[str]
    features: str
    min_labels: int
    n_labels: int | None = Field(description="labelled architectures it was trained on")
    mode: Literal["model", "fallback"] | None
    fallback_reason: str | None
    metrics: dict[str, Any] | None = Field(description="5-fold cross-validated")
    learning_curve: list[LearningCurvePoint] | None = Field(
        description="held-out Spearman rho by number of training labels"
    )
    created_at: datetime | None


class PredictorList(_Page):
    data: list[PredictorOut]


class PruneJobIn(_In):
    """Prune an architecture at initialisation (``zero_cost.prune.masks``): which of its
    Conv2d/Linear weights to keep. Give exactly one target, ``sparsity`` or
    ``compression``."""

    architecture: ArchitectureRef
    method: Name = Field(description="a pruning method: snip, grasp, synflow, magnitude, random")
    sparsity: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = Field(
        default=None, description="the fraction of prunable weights removed"
    )
    compression: Annotated[float, Field(gt=1, le=1e12, allow_inf_nan=False)] | None = Field(
        default=None,
        description="prunable weights before over after (sparsity = 1 - 1 / compression), "
        "at most 10**12",
    )
    scope: Literal["global", "layerwise"] = Field(
        default="global",
        description="global: rank all weights together; layerwise: keep the same fraction of "
        "every layer",
    )
    iterations: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None,
        description="prune rounds on the exponential schedule; default the method's own "
        "(synflow 100, the others 1)",
    )
    data: DataConfig | None = Field(
        default=None,
        description="the batch snip and grasp read (synflow its shape); default: the server's "
        "default data profile (GET /v1/config)",
    )
    init_seed: Seed = 0


class PrunedLayerOut(BaseModel):
    name: str = Field(description="the weight's qualified name, e.g. 'cells.0.conv.weight'")
    shape: list[int]
    total: int
    kept: int
    fraction: float = Field(description="kept / total")


class PruneJobOut(BaseModel):
    """A prune job: what it computes, its state, and once succeeded what its masks keep
    (the masks themselves: GET /v1/prune-jobs/{id}/masks)."""

    id: int
    status: Literal["queued", "running", "succeeded", "failed"]
    created: bool | None = Field(
        default=None,
        description="in the answer to POST: false when an equal request made this job "
        "earlier (it is answered in its current state, nothing is computed again)",
    )
    architecture_id: int
    method: str
    version: str = Field(description="the zero_cost version that computes the masks")
    requested: Literal["sparsity", "compression"] = Field(
        description="the target the job was created with"
    )
    sparsity: float = Field(description="the target sparsity")
    compression: float = Field(description="the target compression")
    scope: Literal["global", "layerwise"]
    iterations: int
    data_profile_id: int
    data_profile: str = Field(description="what the data profile is, in one line")
    init_seed: int
    attempts: int
    error: str | None
    achieved_sparsity: float | None = Field(description="the fraction of weights pruned")
    achieved_compression: float | None = Field(
        description="prunable weights over kept weights (null when none is kept)"
    )
    layers: list[PrunedLayerOut] | None = Field(description="per layer, in the masks' order")
    collapsed: list[str] | None = Field(description="layers whose weights are all pruned")
    seconds: float | None
    device: str | None
    created_at: datetime | None


class PruneJobList(_Page):
    data: list[PruneJobOut]
