"""Learned accuracy predictor: from proxy scores and architecture encodings to accuracy.

Given some architectures whose accuracy is known (labelled) and others whose is not, fit a
model on the labelled ones and rank the rest::

    from zero_cost import predictor

    features = predictor.Features.build(scores, space="nb201", archs=arch_strs)
    model = predictor.Predictor().fit(features.take(labelled), accuracies)
    ranking = model.predict(features.take(unlabelled))   # higher = predicted better
    report = predictor.Predictor().cross_validate(features.take(labelled), accuracies)

Features (:class:`Features`) are every available proxy score plus a space-specific
encoding of the architecture (:func:`encode`). Proxy scores are expected **as the library
ranks them**: the natural log for proxies flagged ``log_scale`` (``ScoreResult.log_value``,
e.g. synflow), the plain value otherwise; pass ``raw=True`` to :meth:`Features.build` to
have log-scale proxies logged for you. (The model itself is a tree ensemble on quantile
bins, so any monotone rescaling of a column leaves it unchanged; the convention matters
for the baseline and for people reading the features.) Missing scores (None, NaN, +-inf)
are allowed: the model routes them natively.

Model. scikit-learn's ``HistGradientBoostingRegressor``, with fixed hyperparameters
(:data:`GBM_PARAMS`) chosen before looking at any benchmark result and never tuned on it.
It is the LightGBM algorithm (histogram gradient boosting with leaf-wise growth and
native missing-value handling) in scikit-learn, a well-kept library with ordinary wheels;
on a few hundred rows it fits in well under a second, single-threaded and
deterministically. LightGBM or XGBoost implement the same kind of model; at a few hundred
rows they promise no gain worth another compiled dependency (not benchmarked here).
The target is rank-preserving: the model learns the accuracy *quantile* among the
labelled architectures (``rankdata(acc) / n``), not the raw accuracy, so only the order of
the labels matters and the few collapsed cells at chance accuracy (about 10 % on
CIFAR-10) cannot dominate the squared loss. Predictions are therefore estimated
quantiles, about 0 to 1.

Baseline. Every predictor carries the label-free ranker it would replace: the ``log_rank``
ensemble of AZ-NAS over the *baseline* proxies (:func:`baseline_proxies`; by default those
of the first stage of ``ensemble.recommended(space)`` (its second stage re-orders only the
top of a space, and changes whole-space rank correlation by a few thousandths,
``docs/two_stage.md``) when the proxy columns hold them all, the space read off
the encoding columns, else every label-free proxy among the columns, else every proxy
column; ``Predictor(baseline=...)`` names them explicitly). It serves twice:

* as a feature: besides the proxy and encoding columns the model sees the quantile of each
  row's baseline score, computed with ``log_rank`` over the training rows when fitting and
  over the training rows together with the rows passed to :meth:`Predictor.predict` when
  predicting (so a row's value does not hinge on how many candidates are passed). A tree
  ensemble cannot easily build this sum of log-ranks out of single columns; given it, the
  model can start from the baseline's order and learn corrections.
* as the ranker the model has to beat, by the rule below.

The rule (written down before any benchmark result was seen, not tuned on them). With n
labelled rows and the weights ``weights`` (default :data:`WEIGHTS` = 0, 0.25, 0.5, 0.75, 1):

1. If n < ``min_labels`` (default 20), or n < 2 x :data:`INNER_FOLDS` while more than one
   weight is allowed, no model is fitted: the predictor ranks by the baseline (weight 0).
2. Otherwise, :data:`INNER_FOLDS`-fold cross-validation on the labelled rows only (shuffled
   with the fit's seed) gives every labelled row an out-of-fold prediction of a model fitted
   on the other folds (its baseline feature computed as above). For each weight w, the blend
   ``w * q(out-of-fold prediction) + (1 - w) * q(baseline score)``, q being the rank
   quantile among the n labelled rows, is scored by its Spearman rho with the labels; w = 0
   is exactly the baseline's rho on those rows. (With a single allowed weight this step is
   skipped.)
3. The weight with the highest rho is chosen; ties (within 1e-9) and undefined rho go to the
   smaller weight, so the model is used only when it *beats* the baseline on held-out
   labelled rows.
4. Weight 0: ``mode == "fallback"``, ``fallback_reason`` says why, and :meth:`predict`
   returns the quantile of the baseline score among the rows passed (NaN for a row missing
   every baseline proxy). Weight w > 0: a model is fitted on all n rows, ``mode ==
   "model"``, and :meth:`predict` returns ``w * q(model) + (1 - w) * q(baseline)``, q the
   rank quantile among the rows passed (the model's quantile alone where the baseline is
   missing); for w = 1, the model's estimated quantiles themselves.

``weight``, ``inner_spearman`` (rho by weight) and ``choice`` (in words) record the decision.
The inner cross-validation costs :data:`INNER_FOLDS` extra fits per :meth:`Predictor.fit`.

Evaluation is out-of-sample only: :meth:`Predictor.cross_validate` reports metrics of
out-of-fold predictions (:func:`evaluate`), each fold's predictor making its own choice on
its own training part; nothing here computes a fit on the training rows.

Serialisation (:meth:`Predictor.to_bytes`) stores the *training data and settings*, not
fitted trees, as an ``.npz`` archive read with ``allow_pickle=False``; :meth:`from_bytes`
refits (inner cross-validation included), which is deterministic and takes a few seconds at
most for benchmark-sized data. So loading never unpickles anything, and a stored predictor
still loads after a scikit-learn upgrade (refitted by the new version, so predictions may
then differ slightly).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from . import ensemble, metrics, proxies, spaces
from .spaces import darts, nats_sss, nb101, nb201, transnas_macro, transnas_micro
from .spaces import graph as graph_space

__all__ = [
    "DEFAULT_MIN_LABELS",
    "GBM_PARAMS",
    "INNER_FOLDS",
    "WEIGHTS",
    "CrossValidation",
    "Evaluation",
    "Features",
    "Predictor",
    "baseline_proxies",
    "encode",
    "encoding_names",
    "evaluate",
]

DEFAULT_MIN_LABELS = 20
"""Fewest labelled architectures for which a model is considered instead of the baseline."""

INNER_FOLDS = 5
"""Folds of the inner cross-validation that chooses the model's weight (module docstring)."""

WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The model weights the inner cross-validation chooses from; 0 is the baseline alone."""

_TIE = 1e-9
"""Inner-CV Spearman differences up to this count as ties (the smaller weight wins)."""

GBM_PARAMS: Mapping[str, Any] = {
    "loss": "squared_error",
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 5,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
"""Hyperparameters of the gradient-boosting model: modest, fixed up front, not tuned."""

TOP_FRACTION = 0.10
"""The share of best architectures that :func:`evaluate` looks at separately."""

_FORMAT = "zero_cost.predictor/2"
_OLD_FORMATS = ("zero_cost.predictor/1",)  # no baseline or weights: loaded as the old rule

Float2D = NDArray[np.float64]
Float1D = NDArray[np.float64]


# --------------------------------------------------------------------------- encodings


def _nb201_names() -> tuple[str, ...]:
    return tuple(
        f"nb201:{source}->{target}={op}" for source, target in nb201.EDGES for op in nb201.OPS
    )


def _nb201_encode(arch: nb201.NB201Arch) -> Float1D:
    """One-hot op per edge: 6 edges x 5 ops."""
    return np.array([float(op == o) for op in arch.ops for o in nb201.OPS])


_NB101_INTERIOR = range(1, nb101.MAX_VERTICES - 1)
_NB101_PAIRS = tuple(
    (u, v) for u in range(nb101.MAX_VERTICES) for v in range(u + 1, nb101.MAX_VERTICES)
)


def _nb101_names() -> tuple[str, ...]:
    edges = tuple(f"nb101:edge{u}->{v}" for u, v in _NB101_PAIRS)
    ops = tuple(f"nb101:v{v}={op}" for v in _NB101_INTERIOR for op in nb101.INTERIOR_OPS)
    return edges + ops


def _nb101_encode(arch: nb101.NB101Arch) -> Float1D:
    """Upper triangle of the pruned matrix padded to 7 vertices (output kept last) and a
    one-hot op per interior vertex (all zeros for padding): 21 + 15 values."""
    n, size = len(arch.ops), nb101.MAX_VERTICES
    # Padding vertices go just before the output, so the output is always vertex 6.
    slot = [*range(n - 1), size - 1]
    matrix = np.zeros((size, size))
    for u in range(n):
        for v in range(n):
            matrix[slot[u], slot[v]] = arch.matrix[u][v]
    ops = np.zeros((size, len(nb101.INTERIOR_OPS)))
    for v in range(1, n - 1):
        ops[slot[v], nb101.INTERIOR_OPS.index(arch.ops[v])] = 1.0
    edges = [matrix[u, v] for u, v in _NB101_PAIRS]
    return np.concatenate([edges, ops[1 : size - 1].ravel()])


def _graph_names(space: str = "graph") -> tuple[str, ...]:
    summary = tuple(f"{space}:{x}" for x in ("nodes", "depth", "width", "log_params", "log_flops"))
    return summary + tuple(f"{space}:count_{op}" for op in graph_space.OPS)


def _graph_encode(arch: graph_space.GraphArch) -> Float1D:
    """Node count, depth (longest input-output path in nodes), width (largest channel or
    feature count), log10(1 + parameters), log10(1 + FLOPs) and the count of each op."""
    depth = {graph_space.INPUT: 0}
    for node in arch.nodes:  # topological order
        depth[node.name] = 1 + max(depth[name] for name in node.inputs)
    width = max(arch.shapes[node.name][0] for node in arch.nodes)
    ops = [node.op for node in arch.nodes]
    summary = [
        len(arch.nodes),
        depth[arch.output],
        width,
        math.log10(1 + arch.params),
        math.log10(1 + arch.flops),
    ]
    return np.array(summary + [ops.count(op) for op in graph_space.OPS], dtype=np.float64)


_DARTS_EDGES = tuple((node, source) for node in range(darts.NODES) for source in range(node + 2))


def _darts_names() -> tuple[str, ...]:
    return tuple(
        f"darts:{cell}:{source}->{node + 2}={op}"
        for cell in ("normal", "reduce")
        for node, source in _DARTS_EDGES
        for op in darts.OPS
    )


def _darts_encode(arch: darts.DartsArch) -> Float1D:
    """Per cell (normal, reduction), one value per possible edge (an intermediate node and
    one of its 2 + k possible inputs) and op: 1 where the genotype has that pair, 2 when it
    has it twice (14 edges x 8 ops x 2 cells = 224 values)."""
    index = {edge: k for k, edge in enumerate(_DARTS_EDGES)}
    values = np.zeros((2, len(_DARTS_EDGES), len(darts.OPS)))
    for c, pairs in enumerate((arch.normal, arch.reduce)):
        for k, (op, source) in enumerate(pairs):
            values[c, index[k // 2, source], darts.OPS.index(op)] += 1.0
    return values.ravel()


def _transnas_micro_names() -> tuple[str, ...]:
    return tuple(
        f"transnas_micro:{source}->{target}={op}"
        for source, target in transnas_micro.EDGES
        for op in transnas_micro.OPS
    )


def _transnas_micro_encode(arch: transnas_micro.TransNasMicroArch) -> Float1D:
    """One-hot op per edge: 6 edges x 4 ops."""
    return np.array([float(op == o) for op in arch.ops for o in transnas_micro.OPS])


def _transnas_macro_names() -> tuple[str, ...]:
    return tuple(
        f"transnas_macro:module{k}={code}"
        for k in range(transnas_macro.MODULES[1])
        for code in transnas_macro.CODES
    )


def _transnas_macro_encode(arch: transnas_macro.TransNasMacroArch) -> Float1D:
    """One-hot module digit per position, all zeros past the last module: 6 x 4 values."""
    values = np.zeros((transnas_macro.MODULES[1], len(transnas_macro.CODES)))
    for k, code in enumerate(arch.skeleton):
        values[k, transnas_macro.CODES.index(code)] = 1.0
    return values.ravel()


def _nats_sss_names() -> tuple[str, ...]:
    return tuple(f"nats_sss:width{k}" for k in range(nats_sss.LAYERS))


def _nats_sss_encode(arch: nats_sss.NatsSssArch) -> Float1D:
    """Each layer's width over the largest width: 5 values in (0, 1]."""
    return np.array(arch.widths, dtype=np.float64) / max(nats_sss.WIDTHS)


_ENCODERS = {
    "nb201": (nb201.NB201Arch, _nb201_encode, _nb201_names),
    "nb101": (nb101.NB101Arch, _nb101_encode, _nb101_names),
    "graph": (graph_space.GraphArch, _graph_encode, _graph_names),
    "onnx": (graph_space.GraphArch, _graph_encode, lambda: _graph_names("onnx")),
    "darts": (darts.DartsArch, _darts_encode, _darts_names),
    "nats_sss": (nats_sss.NatsSssArch, _nats_sss_encode, _nats_sss_names),
    "transnas_micro": (
        transnas_micro.TransNasMicroArch,
        _transnas_micro_encode,
        _transnas_micro_names,
    ),
    "transnas_macro": (
        transnas_macro.TransNasMacroArch,
        _transnas_macro_encode,
        _transnas_macro_names,
    ),
}


def _encoder(space_name: str) -> tuple[type, Any, Any]:
    try:
        return _ENCODERS[space_name]
    except KeyError:
        known = ", ".join(sorted(_ENCODERS))
        message = f"no architecture encoding for space {space_name!r}; known: {known}"
        raise KeyError(message) from None


def encoding_names(space_name: str) -> tuple[str, ...]:
    """Column names of :func:`encode`'s output for the space (prefixed ``"<space>:"``)."""
    return _encoder(space_name)[2]()


def encode(space_name: str, spec_or_arch: Any) -> Float1D:
    """A fixed-length numeric encoding of one architecture of the space.

    ``nb201``: one-hot op per edge (30 values). ``nb101``: the pruned cell's adjacency
    upper triangle padded to 7 vertices, plus a one-hot op per interior vertex (36 values).
    ``graph`` and ``onnx`` (translated to a graph): node count, depth, width, log
    parameters, log FLOPs and op counts.
    ``darts``: per cell, each (node, input, op) triple the genotype has (224 values).
    ``nats_sss``: layer widths over 64 (5). ``transnas_micro``: one-hot op per edge (24).
    ``transnas_macro``: one-hot module digit per position, zero-padded to 6 modules (24).
    ``spec_or_arch`` is a spec the space parses or an already parsed architecture.

    Raises:
        KeyError: no encoding for that space.
        SpecError: the spec is invalid.
    """
    arch_type, encoder, _ = _encoder(space_name)
    arch = spec_or_arch
    if not isinstance(arch, arch_type):
        arch = spaces.get(space_name).parse(spec_or_arch)
    return encoder(arch)


# --------------------------------------------------------------------------- features


def _column(name: str, values: Sequence[float | None] | ArrayLike, raw: bool) -> Float1D:
    column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if column.ndim != 1:
        raise ValueError(f"scores of proxy {name!r} must be 1-D, got shape {column.shape}")
    if raw and _is_log_scale(name):
        with np.errstate(divide="ignore", invalid="ignore"):
            column = np.log(column)
    column[~np.isfinite(column)] = np.nan
    return column


def _is_log_scale(name: str) -> bool:
    try:
        return proxies.get(name).log_scale
    except KeyError:
        return False


@dataclass(frozen=True)
class Features:
    """A feature matrix, one row per architecture.

    ``values`` has the proxy columns first (named by their proxy, listed in ``proxies``),
    then the encoding columns (named ``"<space>:..."``); NaN marks a missing score.
    """

    values: Float2D
    names: tuple[str, ...]
    proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(
                f"values must be (rows, {len(self.names)}) for {len(self.names)} names, "
                f"got shape {self.values.shape}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError("feature names must be unique")
        if self.names[: len(self.proxies)] != self.proxies:
            raise ValueError("the proxy columns must come first, in the order of proxies")

    @classmethod
    def build(
        cls,
        scores: Mapping[str, Sequence[float | None] | ArrayLike] | None = None,
        *,
        space: str | None = None,
        archs: Sequence[Any] = (),
        raw: bool = False,
    ) -> Features:
        """Proxy columns from ``scores`` (proxy name -> one value per architecture) and, when
        ``space`` is given, the encoding of each of ``archs`` (specs or parsed).

        Scores are expected in the library's ranking form (log for ``log_scale`` proxies);
        ``raw=True`` logs those proxies' values here (non-positive values become missing).

        Raises:
            ValueError: no column at all, columns of different lengths, or ``archs``
                without a ``space``.
        """
        if space is None and len(archs):
            raise ValueError("archs given without the space to encode them in")
        columns = {name: _column(name, values, raw) for name, values in (scores or {}).items()}
        names = list(columns)
        lengths = {name: column.size for name, column in columns.items()}
        if space is not None:
            names += encoding_names(space)
            encoded = [encode(space, arch) for arch in archs]
            lengths["archs"] = len(encoded)
        if not names:
            raise ValueError("no features: give proxy scores, a space and archs, or both")
        if len(set(lengths.values())) != 1:
            raise ValueError(f"every feature needs one value per architecture, got {lengths}")
        values = np.empty((next(iter(lengths.values())), len(names)))
        for i, column in enumerate(columns.values()):
            values[:, i] = column
        if space is not None and encoded:
            values[:, len(columns) :] = np.array(encoded)
        return cls(values, tuple(names), tuple(columns))

    def __len__(self) -> int:
        return self.values.shape[0]

    def take(self, rows: ArrayLike | slice) -> Features:
        """The features of the given rows (indices, a boolean mask or a slice)."""
        index = rows if isinstance(rows, slice) else np.asarray(rows)
        return Features(self.values[index], self.names, self.proxies)

    def select(self, names: Sequence[str]) -> Float2D:
        """The matrix with exactly the columns ``names``, in that order.

        Raises:
            ValueError: a column is missing.
        """
        index = {name: i for i, name in enumerate(self.names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise ValueError(f"features lack the columns the predictor was fitted on: {missing}")
        return self.values[:, [index[name] for name in names]]

    def without_encoding(self) -> Features:
        """Only the proxy columns."""
        return Features(self.values[:, : len(self.proxies)], self.proxies, self.proxies)

    def without_proxies(self) -> Features:
        """Only the encoding columns."""
        return Features(self.values[:, len(self.proxies) :], self.names[len(self.proxies) :])


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """How well predictions order held-out architectures.

    ``precision_at_10`` is the overlap of the predicted and true top 10 %;
    ``top_spearman`` is Spearman's rho among the architectures whose *true* accuracy is in
    the top 10 % of those evaluated (the range where the search decides).
    """

    n: int
    spearman: float
    kendall_tau_b: float
    precision_at_10: float
    top_spearman: float

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-compatible: nan becomes ``None``."""
        return {
            key: (value if isinstance(value, int) or math.isfinite(value) else None)
            for key, value in vars(self).items()
        }


def evaluate(pred: ArrayLike, true: ArrayLike) -> Evaluation:
    """Spearman, Kendall tau-b, precision@10 % and top-10 % Spearman of pred against true.

    Pairs with a non-finite value on either side are dropped first. The top 10 % are the
    ``max(1, round(0.1 n))`` best by true accuracy (ties broken by position, as
    :func:`zero_cost.metrics.precision_at_k` does).
    """
    p, t = metrics.valid_pairs(pred, true)
    k = max(1, round(TOP_FRACTION * p.size))
    top = np.argsort(-t, kind="stable")[:k]
    return Evaluation(
        n=int(p.size),
        spearman=metrics.spearman(p, t),
        kendall_tau_b=metrics.kendall_tau_b(p, t),
        precision_at_10=metrics.precision_at_k(p, t, TOP_FRACTION),
        top_spearman=metrics.spearman(p[top], t[top]),
    )


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold results of :meth:`Predictor.cross_validate`.

    ``predictions[i]`` was made by a predictor that never saw row ``i`` (NaN for unlabelled
    rows, which are not evaluated); ``folds[i]`` is the fold row ``i`` was held out in (-1
    if unlabelled); ``modes[f]`` says whether fold ``f`` used the model or the fallback.
    ``evaluation`` pools the out-of-fold predictions of all labelled rows.
    """

    predictions: Float1D
    folds: NDArray[np.int64]
    modes: tuple[str, ...]
    evaluation: Evaluation = field(repr=False)


# --------------------------------------------------------------------------- predictor


def _quantiles(values: Float1D) -> Float1D:
    """rank / n among the finite values (average ranks for ties), NaN elsewhere."""
    result = np.full(values.shape, np.nan)
    valid = np.isfinite(values)
    if valid.any():
        result[valid] = stats.rankdata(values[valid]) / np.count_nonzero(valid)
    return result


def _baseline_quantiles(columns: Float2D) -> Float1D:
    """Quantile among the rows of their ``log_rank`` score over the columns (NaN for a row
    missing every column)."""
    if len(columns) == 0:
        return np.empty(0)
    return _quantiles(ensemble.log_rank({str(i): columns[:, i] for i in range(columns.shape[1])}))


def _blend(model: Float1D, baseline: Float1D, weight: float) -> Float1D:
    """``weight * q(model) + (1 - weight) * q(baseline)`` with q the rank quantile among the
    rows; q(model) alone where the baseline is missing."""
    q_model = _quantiles(model)
    return np.where(
        np.isfinite(baseline), weight * q_model + (1 - weight) * baseline, q_model
    ).astype(np.float64)


def _check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    try:
        result = tuple(sorted({float(w) for w in weights}))
    except (TypeError, ValueError):
        result = ()
    if not result or not all(0.0 <= w <= 1.0 for w in result):
        raise ValueError(f"weights must be numbers between 0 and 1, at least one; got {weights!r}")
    return result


def _space_of(features: Features) -> str | None:
    """The space whose encoding columns the features hold, if any."""
    encoding = features.names[len(features.proxies) :]
    if not encoding:
        return None
    space = encoding[0].split(":", 1)[0]
    return space if space in _ENCODERS else None


def baseline_proxies(columns: Sequence[str], space: str | None = None) -> tuple[str, ...]:
    """The proxies of the default label-free baseline among the proxy ``columns``.

    Those of the first stage of ``ensemble.recommended(space)`` when ``space`` is given and
    the columns hold them all (the ranker the service uses without labels, less the second
    stage that re-orders its best); else every registered label-free proxy among the
    columns (``needs_labels`` False); else all the columns.
    """
    if space is not None:
        chosen = ensemble.recommended(space).ranker.proxies
        if set(chosen) <= set(columns):
            return tuple(chosen)
    return _fallback_proxies(columns)


class Predictor:
    """Fit on labelled architectures, predict the accuracy quantile of others, never ranking
    the labelled architectures worse (in inner cross-validation) than the label-free
    baseline it would replace; the rule is in the module docstring.

    ``min_labels``: below this many labelled architectures :meth:`fit` uses the baseline
    without trying a model. ``baseline``: the proxies of the baseline ``log_rank`` ensemble
    (default :func:`baseline_proxies` of the feature columns). ``weights``: the model weights
    the inner cross-validation may choose (default :data:`WEIGHTS`; ``(1.0,)`` forces the
    model whenever there are ``min_labels`` labels).

    After :meth:`fit`: ``mode`` is ``"model"`` (weight > 0) or ``"fallback"`` (weight 0);
    ``fallback_reason`` says why the baseline is used (None otherwise); ``weight`` is the
    chosen model weight, ``inner_spearman`` the inner cross-validated rho by weight (empty
    when none was run) and ``choice`` the decision in words; ``fallback_proxies`` are the
    baseline's proxies.
    """

    def __init__(
        self,
        *,
        min_labels: int = DEFAULT_MIN_LABELS,
        baseline: Sequence[str] | None = None,
        weights: Sequence[float] = WEIGHTS,
    ) -> None:
        if isinstance(min_labels, bool) or not isinstance(min_labels, int) or min_labels < 2:
            raise ValueError(f"min_labels must be an integer >= 2, got {min_labels!r}")
        if baseline is not None and (isinstance(baseline, str) or not baseline):
            raise ValueError(f"baseline must be a non-empty sequence of proxy names: {baseline!r}")
        self.min_labels = min_labels
        self.baseline: tuple[str, ...] | None = None if baseline is None else tuple(baseline)
        self.weights = _check_weights(weights)
        self.mode: Literal["model", "fallback"] | None = None
        self.fallback_reason: str | None = None
        self.weight: float | None = None
        self.inner_spearman: dict[float, float] = {}
        self.choice: str | None = None
        self.n_labels = 0
        self.seed = 0
        self.feature_names: tuple[str, ...] = ()
        self.proxy_names: tuple[str, ...] = ()
        self.fallback_proxies: tuple[str, ...] = ()
        self._baseline_index: list[int] = []
        self._model: HistGradientBoostingRegressor | None = None
        self._train: tuple[Float2D, Float1D] | None = None

    # ----------------------------------------------------------------------- fitting

    def fit(self, features: Features, accuracies: ArrayLike, seed: int = 0) -> Predictor:
        """Fit on the rows with a finite accuracy (the others are ignored); returns self.

        Chooses the model weight by the rule of the module docstring, then fits the model on
        all labelled rows when the weight is above 0.

        Raises:
            ValueError: lengths differ, no proxy column for the baseline, or a named
                baseline proxy is not a proxy column.
        """
        y = np.array(accuracies, dtype=np.float64).reshape(-1)
        if y.size != len(features):
            raise ValueError(f"{len(features)} feature rows but {y.size} accuracies")
        if self.baseline is not None:
            missing = [name for name in self.baseline if name not in features.proxies]
            if missing:
                raise ValueError(f"baseline proxies {missing} are not proxy columns")
            chosen = self.baseline
        else:
            chosen = baseline_proxies(features.proxies, _space_of(features))
        if not chosen:
            raise ValueError("no proxy scores for the label-free baseline to fall back on")
        labelled = np.isfinite(y)
        x, y = features.values[labelled], y[labelled]
        self.n_labels, self.seed = int(y.size), int(seed)
        self.feature_names, self.proxy_names = features.names, features.proxies
        self.fallback_proxies = tuple(chosen)
        self._baseline_index = [features.names.index(name) for name in chosen]
        self._train = (x, y)
        self._model, self.inner_spearman = None, {}
        ensemble_name = f"label-free log_rank ensemble of {', '.join(chosen)}"
        needed = (
            self.min_labels if len(self.weights) == 1 else max(self.min_labels, 2 * INNER_FOLDS)
        )
        if self.n_labels < needed:
            self.weight = 0.0
            self.fallback_reason = (
                f"{self.n_labels} labelled architectures, fewer than the minimum of "
                f"{needed}: ranking by the {ensemble_name}"
            )
            self.choice = self.fallback_reason
        elif len(self.weights) == 1:
            self.weight = self.weights[0]
            self.choice = f"model weight {self.weight:g} (the only one allowed)"
            self.fallback_reason = None
            if self.weight == 0:
                self.fallback_reason = f"model weight fixed at 0: ranking by the {ensemble_name}"
        else:
            with threadpool_limits(limits=1, user_api="openmp"):  # deterministic, light on CPU
                self.inner_spearman = self._inner_cv(x, y)
            self.weight = _choose(self.inner_spearman)
            rhos = ", ".join(f"{w:g}: {rho:.3f}" for w, rho in self.inner_spearman.items())
            self.choice = (
                f"model weight {self.weight:g} chosen by {INNER_FOLDS}-fold cross-validation "
                f"on the {self.n_labels} labelled architectures (Spearman by model weight, "
                f"0 = the baseline alone: {rhos})"
            )
            self.fallback_reason = None
            if self.weight == 0:
                self.fallback_reason = (
                    f"in {INNER_FOLDS}-fold cross-validation on the {self.n_labels} labelled "
                    f"architectures no model blend ranked them better than the {ensemble_name}"
                    f" (Spearman {self.inner_spearman.get(0.0, math.nan):.3f}): ranking by that "
                    "ensemble"
                )
        if self.weight > 0:
            with threadpool_limits(limits=1, user_api="openmp"):
                self._model = self._fit_model(x, y)
        self.mode = "model" if self.weight > 0 else "fallback"
        return self

    def _fit_model(self, x: Float2D, y: Float1D) -> HistGradientBoostingRegressor:
        """The model on rows ``x`` (their baseline feature among themselves) and labels y."""
        inputs = np.column_stack([x, _baseline_quantiles(x[:, self._baseline_index])])
        model = HistGradientBoostingRegressor(**GBM_PARAMS, random_state=self.seed)
        return model.fit(inputs, stats.rankdata(y) / y.size)

    def _model_predict(
        self, model: HistGradientBoostingRegressor, train: Float2D, x: Float2D
    ) -> Float1D:
        """The model's predictions for rows ``x``, their baseline feature computed among the
        training rows ``train`` and ``x`` together."""
        both = np.vstack([train[:, self._baseline_index], x[:, self._baseline_index]])
        feature = _baseline_quantiles(both)[len(train) :]
        return model.predict(np.column_stack([x, feature])).astype(np.float64)

    def _inner_cv(self, x: Float2D, y: Float1D) -> dict[float, float]:
        """Spearman rho with the labels of each weight's blend of out-of-fold model
        predictions and the baseline, over the labelled rows (step 2 of the rule)."""
        oof = np.empty(y.size)
        splitter = KFold(n_splits=INNER_FOLDS, shuffle=True, random_state=self.seed)
        for train, test in splitter.split(x):
            model = self._fit_model(x[train], y[train])
            oof[test] = self._model_predict(model, x[train], x[test])
        base = _baseline_quantiles(x[:, self._baseline_index])
        return {w: metrics.spearman(_blend(oof, base, w), y) for w in self.weights}

    # ----------------------------------------------------------------------- prediction

    def predict(self, features: Features) -> Float1D:
        """Predicted accuracy quantile of each row (higher = better; only the order matters).

        Weight 0 (fallback): the quantile of the baseline ensemble among these rows (NaN for
        a row missing every baseline proxy). Weight 1: the model's estimated quantiles.
        Otherwise the blend of the two rank quantiles among these rows.

        Raises:
            RuntimeError: not fitted.
            ValueError: a feature column the predictor was fitted on is missing.
        """
        if self.mode is None or self._train is None or self.weight is None:
            raise RuntimeError("the predictor is not fitted; call fit first")
        if self.mode == "fallback":
            return _baseline_quantiles(features.select(self.fallback_proxies))
        assert self._model is not None
        x = features.select(self.feature_names)
        if len(x) == 0:
            return np.empty(0)
        with threadpool_limits(limits=1, user_api="openmp"):
            prediction = self._model_predict(self._model, self._train[0], x)
        if self.weight == 1:
            return prediction
        return _blend(prediction, _baseline_quantiles(x[:, self._baseline_index]), self.weight)

    def cross_validate(
        self, features: Features, accuracies: ArrayLike, k: int = 5, seed: int = 0
    ) -> CrossValidation:
        """K-fold cross-validation on the labelled rows; never a fit on its own training rows.

        The labelled rows are shuffled with ``seed`` into ``k`` folds; each fold is predicted
        by a fresh predictor with this one's settings (``min_labels``, ``baseline``,
        ``weights``), fitted on the other folds, which makes its own choice of weight there.
        This predictor is left unchanged.

        Raises:
            ValueError: ``k < 2`` or fewer labelled rows than folds.
        """
        y = np.array(accuracies, dtype=np.float64).reshape(-1)
        if y.size != len(features):
            raise ValueError(f"{len(features)} feature rows but {y.size} accuracies")
        labelled = np.flatnonzero(np.isfinite(y))
        if k < 2 or labelled.size < k:
            raise ValueError(
                f"need k >= 2 and at least k labelled rows, got k={k} and {labelled.size} rows"
            )
        predictions = np.full(y.size, np.nan)
        folds = np.full(y.size, -1, dtype=np.int64)
        modes = []
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        for fold, (train, test) in enumerate(splitter.split(labelled)):
            train_rows, test_rows = labelled[train], labelled[test]
            model = self._fresh()
            model.fit(features.take(train_rows), y[train_rows], seed=seed)
            predictions[test_rows] = model.predict(features.take(test_rows))
            folds[test_rows] = fold
            assert model.mode is not None
            modes.append(model.mode)
        return CrossValidation(
            predictions=predictions,
            folds=folds,
            modes=tuple(modes),
            evaluation=evaluate(predictions[labelled], y[labelled]),
        )

    def _fresh(self) -> Predictor:
        return Predictor(min_labels=self.min_labels, baseline=self.baseline, weights=self.weights)

    # ----------------------------------------------------------------------- storage

    def to_bytes(self) -> bytes:
        """The training data and settings as an ``.npz`` archive (no pickled objects).

        The baseline is stored as resolved at fit time, so a later change of the default
        recommendation does not change a stored predictor.

        Raises:
            RuntimeError: not fitted.
        """
        if self._train is None:
            raise RuntimeError("the predictor is not fitted; call fit first")
        x, y = self._train
        meta = {
            "format": _FORMAT,
            "min_labels": self.min_labels,
            "seed": self.seed,
            "feature_names": list(self.feature_names),
            "proxy_names": list(self.proxy_names),
            "baseline": list(self.fallback_proxies),
            "weights": list(self.weights),
            "gbm_params": dict(GBM_PARAMS),
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, x=x, y=y, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictor:
        """A predictor equal to the one :meth:`to_bytes` stored, refitted from its data.

        The same scikit-learn version gives identical predictions (and the same choice of
        weight). Loading never unpickles. Predictors stored before the baseline was part of
        the format keep their old rule, so their stored mode stays true: the model (weight 1)
        from ``min_labels`` labels, below it the log_rank fallback of their label-free
        proxies.

        Raises:
            ValueError: the bytes are not a stored predictor.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                x, y = archive["x"], archive["y"]
                meta = json.loads(archive["meta"].tobytes().decode())
            names = tuple(str(name) for name in meta["feature_names"])
            proxies_ = tuple(str(name) for name in meta["proxy_names"])
            min_labels, seed = int(meta["min_labels"]), int(meta["seed"])
            old = meta["format"] in _OLD_FORMATS
            baseline = (
                _fallback_proxies(proxies_)
                if old
                else tuple(str(name) for name in meta["baseline"])
            )
            weights = (1.0,) if old else tuple(float(w) for w in meta["weights"])
            ok = (old or meta["format"] == _FORMAT) and (
                x.ndim == 2 and x.shape == (y.size, len(names))
            )
        except Exception as exc:  # any malformed input: a zip error, a missing key, bad JSON
            raise ValueError(f"not a stored predictor: {exc}") from None
        if not ok:
            raise ValueError("not a stored predictor: unknown format or inconsistent shapes")
        features = Features(np.asarray(x, dtype=np.float64), names, proxies_)
        model = cls(min_labels=min_labels, baseline=baseline, weights=weights)
        return model.fit(features, np.asarray(y, dtype=np.float64), seed)


def _choose(rhos: Mapping[float, float]) -> float:
    """The weight with the highest rho; ties within ``_TIE`` and nan go to the smaller (the
    smallest allowed weight when no rho is defined)."""
    best_weight, best = min(rhos), -math.inf
    for weight in sorted(rhos):
        rho = rhos[weight]
        if math.isfinite(rho) and rho > best + _TIE:
            best_weight, best = weight, rho
    return best_weight


def _fallback_proxies(columns: Sequence[str]) -> tuple[str, ...]:
    """The registered label-free proxies among the columns, else all proxy columns."""
    label_free = []
    for name in columns:
        try:
            if not proxies.get(name).needs_labels:
                label_free.append(name)
        except KeyError:
            continue
    return tuple(label_free) or tuple(columns)
