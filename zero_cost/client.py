"""A Python client for the scoring service, for NAS loops and scripts.

    from zero_cost.client import Client

    client = Client("http://127.0.0.1:8000")
    ids = [a.id for a in client.submit([{"space": "nb201", "spec": cell} for cell in cells])]
    job = client.score(ids, ["snip", "grasp", "synflow"], wait=True)
    best = client.rank(ids, ["snip", "grasp", "synflow"])[0]

Connection errors and 503 answers are retried with exponential backoff (honouring
``Retry-After``); any other error raises ``ApiError`` carrying the API's ``code``. Retrying a
POST is safe: architectures, accuracies and prune jobs are deduplicated by the service, and
``score`` sends an ``Idempotency-Key`` so that its retries never queue a job twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx2

from .repeats import ONCE, Repeats

if TYPE_CHECKING:
    from .ensemble import SecondStage

Architecture = int | Mapping[str, Any]
"""An architecture id, or a spec ``{"space": ..., "spec": ..., "settings": {...}}``."""

FINISHED = frozenset({"succeeded", "failed", "cancelled"})

FigureFormat = Literal["svg", "png"]
"""The file format of a figure drawn by the service."""


class ApiError(Exception):
    """The service refused a request; ``code`` is its machine-readable reason."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class StoredArchitecture:
    id: int
    space: str
    canonical_key: str
    is_degenerate: bool
    params: int
    flops: int
    created: bool | None


@dataclass(frozen=True)
class Job:
    id: int
    status: str
    total: int
    counts: dict[str, int]
    errors: list[dict] = field(default_factory=list)
    data_profile_id: int | None = None
    data_profile: str | None = None
    """What the data profile is, in one line (the service's description)."""

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in FINISHED)

    @property
    def done(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class RankedCandidate:
    architecture_id: int
    rank: int | None
    score: float | None
    scores: dict[str, float | None]


class Client:
    """Synchronous client of the /v1 API."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 6,
        backoff: float = 0.5,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.retries = retries
        self.backoff = backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """Send a request, retrying connection errors and 503; raise ApiError on failure."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx2.TransportError:
                if attempt == self.retries:
                    raise
            else:
                if response.status_code != 503 or attempt == self.retries:
                    break
                retry_after = response.headers.get("retry-after", "")
                delay = max(delay, float(retry_after)) if retry_after.isdigit() else delay
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code,
                body.get("code", "http_error"),
                body.get("message", response.text[:500]),
                body.get("field"),
            )
        return response

    # -- architectures -----------------------------------------------------------------------

    def submit(self, architectures: Sequence[Mapping[str, Any]]) -> list[StoredArchitecture]:
        """Store specs (deduplicated by the service); one result per spec, in order."""
        body = self.request("POST", "/v1/architectures", json={"items": list(architectures)})
        return [
            StoredArchitecture(
                item["id"],
                item["space"],
                item["canonical_key"],
                item["is_degenerate"],
                item["params"],
                item["flops"],
                item["created"],
            )
            for item in body.json()["items"]
        ]

    def architecture(self, architecture_id: int) -> dict:
        """An architecture with its scores and accuracies."""
        return self.request("GET", f"/v1/architectures/{architecture_id}").json()

    # -- scoring -------------------------------------------------------------------------------

    def score(
        self,
        architectures: Sequence[Architecture],
        proxies: Sequence[str],
        *,
        data: Mapping[str, Any] | None = None,
        init_seed: int = 0,
        repeats: Repeats = ONCE,
        wait: bool = True,
        poll_seconds: float = 1.0,
        timeout: float | None = None,
        on_progress: Callable[[Job], None] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a score job; with ``wait``, follow it until it finishes (or ``timeout``).
        ``repeats``: score each proxy over so many init seeds and batches and store the mean,
        standard deviation and k (``zero_cost.repeats``); read them with ``scores`` passing
        ``repeat_init_seeds`` and ``repeat_batches``.

        The request carries an ``Idempotency-Key`` (``idempotency_key``, else a new UUID4),
        the same on each of its retries: a retry whose first attempt was stored after all
        (the answer lost to a dropped connection or an API restart) gets that job instead of
        queuing a second one. To retry across calls (e.g. after a crash of the caller), pass
        the same key each time; it must not be reused for a different request.
        """
        body: dict[str, Any] = {
            "architectures": list(architectures),
            "proxies": list(proxies),
            "init_seed": init_seed,
        } | _repeats_field(repeats)
        if data is not None:
            body["data"] = dict(data)
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        job = _job(self.request("POST", "/v1/score-jobs", json=body, headers=headers).json())
        if on_progress:
            on_progress(job)
        return self.wait(job.id, poll_seconds, timeout, on_progress) if wait else job

    def job(self, job_id: int) -> Job:
        return _job(self.request("GET", f"/v1/score-jobs/{job_id}").json())

    def job_details(self, job_id: int) -> dict[str, Any]:
        """A score job as the service reports it: ``id``, ``status``, ``proxies``,
        ``data_profile_id``, ``init_seed``, ``total``, ``counts`` (items by state) and the
        items' ``errors``. ``job`` keeps only what following a job needs."""
        return self.request("GET", f"/v1/score-jobs/{job_id}").json()

    def cancel(self, job_id: int) -> Job:
        return _job(self.request("DELETE", f"/v1/score-jobs/{job_id}").json())

    def wait(
        self,
        job_id: int,
        poll_seconds: float = 1.0,
        timeout: float | None = None,
        on_progress: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll a job until it is finished; raise TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress:
                on_progress(job)
            if job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout} s")
            time.sleep(poll_seconds)

    def scores(self, **filters: Any) -> list[dict]:
        """Stored scores (filters: architecture_id, proxy, data_profile_id,
        repeat_init_seeds, repeat_batches, job_id, limit, offset)."""
        return self.request("GET", "/v1/scores", params=filters).json()["data"]

    def all_scores(self, page_size: int = 10_000, **filters: Any) -> list[dict]:
        """Every stored score matching ``filters`` (those of ``scores`` but limit and
        offset), read page by page; e.g. ``all_scores(job_id=7)``, the scores a job asked
        for."""
        found: list[dict] = []
        while True:
            params = filters | {"limit": page_size, "offset": len(found)}
            page = self.request("GET", "/v1/scores", params=params).json()
            found += page["data"]
            if not page["data"] or len(found) >= page["count"]:
                return found

    def rank(
        self,
        architectures: Sequence[Architecture],
        proxies: Sequence[str] | None = None,
        *,
        ensemble: str | None = None,
        data: Mapping[str, Any] | None = None,
        init_seed: int = 0,
        repeats: Repeats = ONCE,
        wait: bool = True,
        poll_seconds: float = 0.5,
        dataset: str | None = None,
        metric: str = "test_accuracy",
        second_stage: SecondStage | None = None,
    ) -> list[RankedCandidate]:
        """Candidates best-first by the ensemble of their proxy scores. Without proxies, the
        service's recommended label-free ranker of their space (GET /v1/config); without an
        ensemble, ``log_rank`` or the recommended ranker's aggregation. ``second_stage``
        re-ranks the first stage's best (``zero_cost.ensemble.two_stage``); without it, the
        recommended ranker's second stage when no proxies are named, else none.

        With ``wait``, candidates not scored yet are waited for however long scoring takes
        (the service blocks at most ZC_RANK_WAIT_SECONDS; the client then follows the job
        and asks again, once more for a second stage's job). Without it, unscored
        candidates come last with ``rank`` None.
        ``repeats``: rank on the means of scores repeated so often (see ``score``).
        """
        body: dict[str, Any] = {
            "architectures": list(architectures),
            "init_seed": init_seed,
            "wait": wait,
        } | _repeats_field(repeats)
        if proxies is not None:
            body["proxies"] = list(proxies)
        if ensemble is not None:
            body["ensemble"] = ensemble
        if data is not None:
            body["data"] = dict(data)
        if dataset is not None:  # ensemble="learned": the predictor's dataset and metric
            body.update(dataset=dataset, metric=metric)
        if second_stage is not None:
            body["second_stage"] = asdict(second_stage)
        answer = self.request("POST", "/v1/rank", json=body).json()
        for _ in range(2):  # a job of the first stage's scores, then one of the second's
            if not wait or answer["complete"] or answer["job_id"] is None:
                break
            self.wait(answer["job_id"], poll_seconds)
            answer = self.request("POST", "/v1/rank", json={**body, "wait": False}).json()
        return [
            RankedCandidate(r["architecture_id"], r["rank"], r["score"], r["scores"])
            for r in answer["ranking"]
        ]

    # -- the server -------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The server's defaults and limits (``default_data``, ``max_batch_items``, ...)."""
        return self.request("GET", "/v1/config").json()

    def data_profile(self, data_profile_id: int) -> dict[str, Any]:
        """A data profile: ``id``, ``key``, ``source``, ``config`` and ``description``."""
        return self.request("GET", f"/v1/data-profiles/{data_profile_id}").json()

    # -- accuracies and correlations ---------------------------------------------------------------

    def add_accuracies(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Report trained accuracies ``{architecture, dataset, metric, value, ...}``;
        returns how many were new."""
        return self.request("POST", "/v1/accuracies", json={"items": list(items)}).json()["created"]

    def correlations(
        self,
        dataset: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        ensembles: Sequence[str] | None = None,
        data_profile_id: int | None = None,
        bootstrap: int = 1000,
        repeats: Repeats = ONCE,
    ) -> dict:
        """How well each proxy and ensemble ranks the reported accuracies. Proxies and
        ensembles as for the figures: None means all, an empty list none. ``repeats``: of
        the scores repeated so often (see ``score``)."""
        params: dict[str, Any] = {"dataset": dataset, "metric": metric, "bootstrap": bootstrap}
        if repeats != ONCE:
            params |= {"repeat_init_seeds": repeats.init_seeds, "repeat_batches": repeats.batches}
        params.update(_names_param("proxies", proxies))
        params.update(_names_param("ensembles", ensembles))
        if data_profile_id is not None:
            params["data_profile_id"] = data_profile_id
        return self.request("GET", "/v1/correlations", params=params).json()

    # -- figures -------------------------------------------------------------------------------
    # Proxies and ensembles are sent as given: None means all, an empty list none.

    def correlations_plot(
        self,
        dataset: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        ensembles: Sequence[str] | None = None,
        data_profile_id: int | None = None,
        bootstrap: int = 1000,
        fmt: FigureFormat = "svg",
    ) -> bytes:
        """The figure of ``correlations``: Spearman's rho and Kendall's tau-b with bootstrap
        95% intervals, a bar per proxy and ensemble; the bytes of an SVG or PNG file."""
        params = _figure_params(dataset, metric, proxies, data_profile_id, fmt)
        params |= _names_param("ensembles", ensembles) | {"bootstrap": bootstrap}
        return self.request("GET", "/v1/plots/correlations", params=params).content

    def scatter_plot(
        self,
        dataset: str,
        name: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        data_profile_id: int | None = None,
        scale: Literal["value", "rank"] = "value",
        fmt: FigureFormat = "svg",
    ) -> bytes:
        """One proxy's or ensemble's (``name``) score per architecture against its accuracy;
        ``scale="rank"`` plots score ranks. For an ensemble, ``proxies`` are its members.
        The bytes of an SVG or PNG file."""
        params = _figure_params(dataset, metric, proxies, data_profile_id, fmt)
        params |= {"name": name, "scale": scale}
        return self.request("GET", "/v1/plots/scatter", params=params).content

    def precision_plot(
        self,
        dataset: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        ensembles: Sequence[str] | None = None,
        data_profile_id: int | None = None,
        fmt: FigureFormat = "svg",
    ) -> bytes:
        """Precision@k curves, k from 1% to 50%: the share of the true top k% that each proxy
        and ensemble puts in its own top k%. The bytes of an SVG or PNG file."""
        params = _figure_params(dataset, metric, proxies, data_profile_id, fmt)
        params |= _names_param("ensembles", ensembles)
        return self.request("GET", "/v1/plots/precision", params=params).content

    # -- learned predictors --------------------------------------------------------------------

    def train_predictor(
        self,
        dataset: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        features: str = "proxies+encoding",
        data_profile_id: int | None = None,
        init_seed: int = 0,
        min_labels: int = 20,
        space: str = "nb201",
        wait: bool = True,
        poll_seconds: float = 0.5,
        timeout: float | None = None,
    ) -> dict:
        """Queue the training of a predictor (the next version of that configuration); with
        ``wait``, poll until it succeeded or failed. Returns the predictor."""
        body: dict[str, Any] = {
            "dataset": dataset,
            "metric": metric,
            "features": features,
            "init_seed": init_seed,
            "min_labels": min_labels,
            "space": space,
        }
        if proxies:
            body["proxies"] = list(proxies)
        if data_profile_id is not None:
            body["data_profile_id"] = data_profile_id
        predictor = self.request("POST", "/v1/predictors", json=body).json()
        deadline = None if timeout is None else time.monotonic() + timeout
        while wait and predictor["status"] in {"queued", "running"}:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"predictor {predictor['id']} still {predictor['status']}")
            time.sleep(poll_seconds)
            predictor = self.predictor(predictor["id"])
        return predictor

    def predictor(self, predictor_id: int) -> dict:
        """A predictor: status, cross-validated metrics and learning curve."""
        return self.request("GET", f"/v1/predictors/{predictor_id}").json()

    def predictors(self, dataset: str | None = None, metric: str | None = None) -> list[dict]:
        """Predictors, the newest first."""
        params = {k: v for k, v in {"dataset": dataset, "metric": metric}.items() if v}
        return self.request("GET", "/v1/predictors", params=params).json()["data"]

    # -- pruning at initialisation -----------------------------------------------------------

    def prune(
        self,
        architecture: Architecture,
        method: str,
        *,
        sparsity: float | None = None,
        compression: float | None = None,
        scope: str = "global",
        iterations: int | None = None,
        data: Mapping[str, Any] | None = None,
        init_seed: int = 0,
        wait: bool = True,
        poll_seconds: float = 0.5,
        timeout: float | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> dict:
        """Queue pruning of an architecture (an id or ``{space, spec[, settings]}``) at
        initialisation, with exactly one of ``sparsity`` and ``compression``; an equal
        request answers the stored job (``created`` false). With ``wait``, poll until it
        succeeded or failed (``on_progress`` gets each state). Returns the job."""
        body: dict[str, Any] = {
            "architecture": architecture if isinstance(architecture, int) else dict(architecture),
            "method": method,
            "scope": scope,
            "init_seed": init_seed,
        }
        for key, value in (
            ("sparsity", sparsity),
            ("compression", compression),
            ("iterations", iterations),
            ("data", None if data is None else dict(data)),
        ):
            if value is not None:
                body[key] = value
        job = self.request("POST", "/v1/prune-jobs", json=body).json()
        deadline = None if timeout is None else time.monotonic() + timeout
        while wait and job["status"] in {"queued", "running"}:
            if on_progress is not None:
                on_progress(job)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"prune job {job['id']} still {job['status']}")
            time.sleep(poll_seconds)
            job = self.prune_job(job["id"])
        return job

    def prune_job(self, job_id: int) -> dict:
        """A prune job: status, target and achieved sparsity, per-layer kept fractions."""
        return self.request("GET", f"/v1/prune-jobs/{job_id}").json()

    def prune_masks(self, job_id: int, path: str | Path) -> Path:
        """Download a succeeded prune job's masks to ``path`` (safetensors, read with
        ``zero_cost.prune.load_masks``); returns the path."""
        response = self.request("GET", f"/v1/prune-jobs/{job_id}/masks")
        target = Path(path)
        target.write_bytes(response.content)
        return target


def _repeats_field(repeats: Repeats) -> dict[str, Any]:
    """The ``repeats`` field of a request body; left out for a single score, so that a
    service older than repeats understands the request."""
    if repeats == ONCE:
        return {}
    return {"repeats": {"init_seeds": repeats.init_seeds, "batches": repeats.batches}}


def _names_param(key: str, names: Sequence[str] | None) -> dict[str, str]:
    """``{key: "a,b"}``, or nothing when ``names`` is None."""
    return {} if names is None else {key: ",".join(names)}


def _figure_params(
    dataset: str,
    metric: str,
    proxies: Sequence[str] | None,
    data_profile_id: int | None,
    fmt: FigureFormat,
) -> dict[str, Any]:
    """The query parameters that every figure takes."""
    params: dict[str, Any] = {"dataset": dataset, "metric": metric, "format": fmt}
    if data_profile_id is not None:
        params["data_profile_id"] = data_profile_id
    return params | _names_param("proxies", proxies)


def _job(body: dict) -> Job:
    return Job(
        body["id"],
        body["status"],
        body["total"],
        body["counts"],
        body["errors"],
        body.get("data_profile_id"),
        body.get("data_profile"),
    )
