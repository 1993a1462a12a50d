"""Architecture search driven by zero-cost scores: regularized evolution and random search.

Both searches take a ``rank(specs) -> scores`` callable (one fitness per spec, higher =
better, ``None`` for a spec that could not be scored), so they run against the service
(``service_ranker``), against precomputed scores, or against a fake in tests.

Regularized ("aging") evolution follows Real et al., AAAI 2019: a population of random
cells; each cycle draws ``sample_size`` members at random, mutates the fittest of them and
appends the child while the oldest member dies. Proposals are evaluated in batches of
``batch_size`` (the children of one batch are all bred from the population as it stood
before the batch).

Fitness is population-relative. An ensemble score such as ``log_rank`` ranks each proxy
*among the candidates of one request*, so a value from one call cannot be compared with a
value from another. Every batch is therefore ranked **together with the current
population** (``rank(population + children)``), and the fitness of every member is replaced
by its value from that call; tournaments always compare numbers from one ranking. For the
same reason the result is not read off the per-batch values: at the end every cell
evaluated during the search is ranked in one last call, and that ranking is the answer.
With the service all of these cells are already scored, so the repeated calls only
recompute the ensemble, never a proxy.

The budget counts distinct cells evaluated (by canonical key, so two strings that compute
the same function are one cell), initial population included. A child equal to a cell
already evaluated is discarded and bred again; if no new cell turns up in
``max_retries`` tries the search stops early (the neighbourhood is exhausted).

Only the NAS-Bench-201 space (``nb201``) is supported: a cell is its ``arch_str`` and a
mutation replaces the op of one random edge with a different op.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import spaces
from .spaces.nb201 import EDGES, OPS, NB201Arch

RankFn = Callable[[Sequence[str]], Sequence[float | None]]
"""Fitness of each spec (higher = better; ``None`` = unscored), from one joint ranking."""
SampleFn = Callable[[random.Random], str]
MutateFn = Callable[[str, random.Random], str]
ProgressFn = Callable[[int, int], None]
"""Called with (distinct cells evaluated so far, budget)."""

SUPPORTED_SPACES = ("nb201",)


class ScoringClient(Protocol):
    """What the service rankers call on a client; ``zero_cost.client.Client`` is one."""

    def submit(self, architectures: Sequence[Mapping[str, Any]]) -> Sequence[Any]: ...

    def score(
        self,
        architectures: Sequence[int],
        proxies: Sequence[str],
        *,
        data: Mapping[str, Any] | None = None,
        init_seed: int = 0,
        wait: bool = True,
    ) -> Any: ...

    def rank(
        self,
        architectures: Sequence[int],
        proxies: Sequence[str] | None = None,
        *,
        ensemble: str | None = None,
        data: Mapping[str, Any] | None = None,
        init_seed: int = 0,
        poll_seconds: float = 0.5,
        dataset: str | None = None,
        metric: str = "test_accuracy",
    ) -> Sequence[Any]: ...

    def add_accuracies(self, items: Iterable[Mapping[str, Any]]) -> int: ...

    def train_predictor(
        self,
        dataset: str,
        metric: str = "test_accuracy",
        *,
        proxies: Sequence[str] | None = None,
        data_profile_id: int | None = None,
        init_seed: int = 0,
        min_labels: int = 20,
        space: str = "nb201",
        poll_seconds: float = 0.5,
    ) -> dict: ...


class SearchError(ValueError):
    """The search cannot run as asked (unsupported space, invalid settings)."""


@dataclass(frozen=True)
class Candidate:
    spec: str
    score: float | None


@dataclass(frozen=True)
class SearchResult:
    """``ranking``: every cell evaluated, best-first by one final joint ranking;
    ``history``: the cells in the order they were proposed; ``rank_calls``: calls made."""

    ranking: list[Candidate]
    history: list[str]
    rank_calls: int
    stopped_early: bool = False
    trace: list[float] = field(default_factory=list)
    """Per batch, the best fitness in the population after it (within that call)."""

    @property
    def best(self) -> Candidate:
        return self.ranking[0]

    @property
    def evaluated(self) -> int:
        return len(self.history)


def check_space(space: str) -> None:
    if space not in SUPPORTED_SPACES:
        raise SearchError(
            f"search supports only the {', '.join(SUPPORTED_SPACES)} space, not {space!r}: "
            "mutation is defined for NAS-Bench-201 cells"
        )


_NB201 = spaces.get("nb201")


def canonical_key(spec: str) -> str:
    """Equal for NB201 cells that compute the same function (their function class)."""
    return _NB201.canonical_key(_NB201.parse(spec))


def cell_string(spec: str) -> str:
    """The normalised cell string: one per NB201 cell (the key of a cell's own accuracy;
    cells of one function class have their own)."""
    return _NB201.parse(spec).arch_str


def random_cell(rng: random.Random) -> str:
    """A uniformly random NB201 cell string (each edge op uniform over the 5 ops)."""
    return NB201Arch(tuple(rng.choice(OPS) for _ in EDGES)).arch_str


def mutate_cell(spec: str, rng: random.Random) -> str:
    """Replace the op of one random edge with a different op (Real et al.'s op mutation)."""
    ops = list(_NB201.parse(spec).ops)
    edge = rng.randrange(len(ops))
    ops[edge] = rng.choice([op for op in OPS if op != ops[edge]])
    return NB201Arch(tuple(ops)).arch_str


def _fitness(value: float | None) -> float:
    return -math.inf if value is None or not math.isfinite(value) else float(value)


def _call(rank: RankFn, specs: Sequence[str]) -> dict[str, float | None]:
    scores = list(rank(list(specs)))
    if len(scores) != len(specs):
        raise ValueError(f"rank returned {len(scores)} scores for {len(specs)} specs")
    return dict(zip(specs, scores, strict=True))


def _final_ranking(rank: RankFn, history: Sequence[str]) -> list[Candidate]:
    scores = _call(rank, history)
    order = sorted(range(len(history)), key=lambda i: (-_fitness(scores[history[i]]), i))
    return [Candidate(history[i], scores[history[i]]) for i in order]


def _new_cells(
    count: int,
    propose: Callable[[], str],
    seen: set[str],
    max_retries: int,
) -> list[str]:
    """Up to ``count`` proposals not seen before; fewer when ``max_retries`` consecutive
    proposals are all repeats."""
    cells: list[str] = []
    misses = 0
    while len(cells) < count and misses < max_retries:
        spec = propose()
        key = canonical_key(spec)
        if key in seen:
            misses += 1
            continue
        misses = 0
        seen.add(key)
        cells.append(spec)
    return cells


def regularized_evolution(
    rank: RankFn,
    budget: int,
    *,
    population_size: int = 50,
    sample_size: int = 10,
    batch_size: int = 25,
    seed: int = 0,
    space: str = "nb201",
    sample: SampleFn = random_cell,
    mutate: MutateFn = mutate_cell,
    max_retries: int = 200,
    on_progress: ProgressFn | None = None,
) -> SearchResult:
    """Aging evolution over NB201 cells with at most ``budget`` distinct cells evaluated.

    ``sample`` draws the initial population and ``mutate`` breeds children (both seeded by
    one ``random.Random(seed)``); override them to search a restricted set of cells.
    """
    check_space(space)
    for name, value in (
        ("budget", budget),
        ("population_size", population_size),
        ("sample_size", sample_size),
        ("batch_size", batch_size),
    ):
        if value < 1:
            raise SearchError(f"{name} must be at least 1, got {value}")
    rng = random.Random(seed)
    seen: set[str] = set()
    history = _new_cells(min(population_size, budget), lambda: sample(rng), seen, max_retries)
    if not history:
        raise SearchError("could not sample any cell")
    fitness = _call(rank, history)
    calls = 1
    population = deque(history)
    trace = [max(_fitness(fitness[s]) for s in population)]
    if on_progress:
        on_progress(len(history), budget)

    def breed() -> str:
        contestants = rng.sample(list(population), min(sample_size, len(population)))
        parent = max(contestants, key=lambda s: _fitness(fitness[s]))
        return mutate(parent, rng)

    stopped_early = False
    while len(history) < budget:
        children = _new_cells(min(batch_size, budget - len(history)), breed, seen, max_retries)
        if not children:
            stopped_early = True
            break
        # Rank the children together with the population: one scale for everyone.
        fitness = _call(rank, [*population, *children])
        calls += 1
        for child in children:
            population.append(child)
            if len(population) > population_size:
                population.popleft()  # the oldest dies, however fit
        history.extend(children)
        trace.append(max(_fitness(fitness[s]) for s in population))
        if on_progress:
            on_progress(len(history), budget)
    ranking = _final_ranking(rank, history)
    return SearchResult(ranking, history, calls + 1, stopped_early, trace)


def random_search(
    rank: RankFn,
    budget: int,
    *,
    seed: int = 0,
    space: str = "nb201",
    sample: SampleFn = random_cell,
    max_retries: int = 200,
    on_progress: ProgressFn | None = None,
) -> SearchResult:
    """The baseline: ``budget`` distinct random cells, ranked together in one call."""
    check_space(space)
    if budget < 1:
        raise SearchError(f"budget must be at least 1, got {budget}")
    rng = random.Random(seed)
    history = _new_cells(budget, lambda: sample(rng), set(), max_retries)
    if on_progress:
        on_progress(len(history), budget)
    return SearchResult(_final_ranking(rank, history), history, 1, len(history) < budget)


def service_ranker(
    client: ScoringClient,
    proxies: Sequence[str],
    *,
    ensemble: str = "log_rank",
    data: Mapping[str, Any] | None = None,
    init_seed: int = 0,
    space: str = "nb201",
    settings: Mapping[str, int] | None = None,
    poll_seconds: float = 0.5,
) -> RankFn:
    """A ``rank`` function scoring through the service with a ``zero_cost.client.Client``.

    Specs are stored with one submit (the service deduplicates them, so results are mapped
    back by architecture id) and ranked together with ``Client.rank``, which waits until
    every candidate is scored (or failed for good).
    """
    extra = {"settings": dict(settings)} if settings else {}

    def rank(specs: Sequence[str]) -> list[float | None]:
        stored = client.submit([{"space": space, "spec": s, **extra} for s in specs])
        ids = list(dict.fromkeys(a.id for a in stored))
        ranking = client.rank(
            ids,
            proxies,
            ensemble=ensemble,
            data=data,
            init_seed=init_seed,
            poll_seconds=poll_seconds,
        )
        by_id = {r.architecture_id: r.score for r in ranking}
        return [by_id.get(a.id) for a in stored]

    return rank


def learning_ranker(
    client: ScoringClient,
    proxies: Sequence[str],
    *,
    dataset: str,
    accuracies: Mapping[str, float],
    metric: str = "test_accuracy",
    retrain_every: int = 100,
    min_labels: int = 20,
    data: Mapping[str, Any] | None = None,
    init_seed: int = 0,
    space: str = "nb201",
    poll_seconds: float = 0.5,
) -> RankFn:
    """A ``rank`` function with the service's learned predictor (``ensemble="learned"``).

    ``accuracies`` maps each cell's normalised string (:func:`cell_string`) to its true
    accuracy, e.g. from a benchmark table. Every call scores the specs, reports the
    accuracies of those found in ``accuracies`` (once each, as ``dataset``/``metric``), and
    retrains the predictor whenever ``retrain_every`` proposals were ranked since the last
    training (and at the first call). Until a predictor exists (training needs 5 labelled
    cells) the ``log_rank`` ensemble ranks.
    """
    state: dict[str, Any] = {"since": 0, "predictor": None, "reported": set()}

    def rank(specs: Sequence[str]) -> list[float | None]:
        stored = client.submit([{"space": space, "spec": s} for s in specs])
        ids = list(dict.fromkeys(a.id for a in stored))
        job = client.score(ids, proxies, data=data, init_seed=init_seed, wait=True)
        reports = [
            {"architecture": a.id, "dataset": dataset, "metric": metric, "value": value}
            for s, a in zip(specs, stored, strict=True)
            if a.id not in state["reported"]
            and (value := accuracies.get(cell_string(s))) is not None
        ]
        if reports:
            client.add_accuracies(reports)
            state["reported"].update(r["architecture"] for r in reports)
        state["since"] += len(specs)
        if state["predictor"] is None or state["since"] >= retrain_every:
            state["since"] = 0
            trained = client.train_predictor(
                dataset,
                metric,
                proxies=proxies,
                data_profile_id=job.data_profile_id,
                init_seed=init_seed,
                min_labels=min_labels,
                space=space,
                poll_seconds=poll_seconds,
            )
            if trained["status"] == "succeeded":
                state["predictor"] = trained
        learned = state["predictor"] is not None
        ranking = client.rank(
            ids,
            proxies,
            ensemble="learned" if learned else "log_rank",
            data=data,
            init_seed=init_seed,
            dataset=dataset if learned else None,
            metric=metric,
            poll_seconds=poll_seconds,
        )
        by_id = {r.architecture_id: r.score for r in ranking}
        return [by_id.get(a.id) for a in stored]

    return rank
