"""Architecture search driven by zero-cost scores: regularized evolution and random search.

Both searches take a ``rank(specs) -> scores`` callable (one fitness per spec, higher =
better, ``None`` for a spec that could not be scored), so they run against the service
(``service_ranker``), against precomputed scores, or against a fake in tests.

Spaces. A search runs in every space that defines a mutation. The space's module provides
``random_arch(rng)`` and ``mutate(arch, rng)`` on parsed architectures, and the registry
:data:`OPERATORS` maps the space's name to that pair: nb201, darts, nats_sss,
transnas_micro and transnas_macro. To make another space searchable, write the two
functions in its module and add an entry to :data:`OPERATORS` (a test checks that every
space module defining them is registered). nb101 and graph define none (no random graph
or edit is defined for them), so :func:`check_space` refuses them.

A search works on *specs*, JSON-compatible values as the space's ``to_spec`` writes them
(the cell string for nb201, the width string for nats_sss, a dict for darts): by default
``sample`` is ``to_spec(random_arch(rng))`` and ``mutate`` is
``to_spec(mutate(parse(spec), rng))`` (:func:`spec_operators`). Specs go to ``rank`` and
come back in the result as proposed; nothing requires them to be hashable. ``settings``
configure the space as in ``spaces.get(space, **settings)``: they decide canonical keys
(the depth decides which DARTS networks are degenerate), and the service rankers store
the specs with them.

Regularized ("aging") evolution follows Real et al., AAAI 2019: a population of random
architectures; each cycle draws ``sample_size`` members at random, mutates the fittest of
them and appends the child while the oldest member dies. Proposals are evaluated in
batches of ``batch_size`` (the children of one batch are all bred from the population as it
stood before the batch).

Fitness is population-relative. An ensemble score such as ``log_rank`` ranks each proxy
*among the candidates of one request*, so a value from one call cannot be compared with a
value from another. Every batch is therefore ranked **together with the current
population** (``rank(population + children)``), and the fitness of every member is replaced
by its value from that call; tournaments always compare numbers from one ranking. For the
same reason the result is not read off the per-batch values: at the end every architecture
evaluated during the search is ranked in one last call, and that ranking is the answer.
With the service all of them are already scored, so the repeated calls only recompute the
ensemble, never a proxy.

The budget counts distinct architectures evaluated, by the space's canonical key (two
specs that compute the same function are one), initial population included. A child
equal to one already evaluated is discarded and bred again; if no new one turns up in
``max_retries`` tries the search stops early (the neighbourhood is exhausted).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import spaces
from .spaces import darts, nats_sss, nb201, transnas_macro, transnas_micro

if TYPE_CHECKING:
    from .ensemble import SecondStage

Spec = Any
"""A JSON-compatible architecture spec of the searched space (a str, or a dict for darts)."""
RankFn = Callable[[Sequence[Spec]], Sequence[float | None]]
"""Fitness of each spec (higher = better; ``None`` = unscored), from one joint ranking."""
SampleFn = Callable[[random.Random], Spec]
MutateFn = Callable[[Spec, random.Random], Spec]
ProgressFn = Callable[[int, int], None]
"""Called with (distinct architectures evaluated so far, budget)."""


@dataclass(frozen=True)
class Operators:
    """How a search explores one space, on parsed architectures (not specs):
    ``random_arch(rng)`` draws one, ``mutate(arch, rng)`` returns a child that differs from
    its parent."""

    random_arch: Callable[[random.Random], Any]
    mutate: Callable[[Any, random.Random], Any]


OPERATORS: dict[str, Operators] = {
    "nb201": Operators(nb201.random_arch, nb201.mutate),
    "darts": Operators(darts.random_arch, darts.mutate),
    "nats_sss": Operators(nats_sss.random_arch, nats_sss.mutate),
    "transnas_micro": Operators(transnas_micro.random_arch, transnas_micro.mutate),
    "transnas_macro": Operators(transnas_macro.random_arch, transnas_macro.mutate),
}
"""The searchable spaces, by name: the registry of their sampling and mutation."""


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
        second_stage: SecondStage | None = None,
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
    spec: Spec
    score: float | None


@dataclass(frozen=True)
class SearchResult:
    """``ranking``: every architecture evaluated, best-first by one final joint ranking;
    ``history``: their specs in the order they were proposed; ``rank_calls``: calls made."""

    ranking: list[Candidate]
    history: list[Spec]
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
    """Raises ``SearchError`` unless ``space`` defines a mutation (is in ``OPERATORS``)."""
    if space not in OPERATORS:
        raise SearchError(
            f"search needs a mutation, defined for the {', '.join(OPERATORS)} spaces; "
            f"{space!r} has none"
        )


def spec_operators(
    space: str = "nb201", settings: Mapping[str, Any] | None = None
) -> tuple[SampleFn, MutateFn]:
    """The space's ``sample`` and ``mutate`` on specs, the searches' defaults:
    ``to_spec(random_arch(rng))`` and ``to_spec(mutate(parse(spec), rng))``."""
    check_space(space)
    ops, sp = OPERATORS[space], spaces.get(space, **(settings or {}))

    def sample(rng: random.Random) -> Spec:
        return sp.to_spec(ops.random_arch(rng))

    def mutate(spec: Spec, rng: random.Random) -> Spec:
        return sp.to_spec(ops.mutate(sp.parse(spec), rng))

    return sample, mutate


def _fitness(value: float | None) -> float:
    return -math.inf if value is None or not math.isfinite(value) else float(value)


def _call(rank: RankFn, specs: Sequence[Spec]) -> list[float | None]:
    scores = list(rank(list(specs)))
    if len(scores) != len(specs):
        raise ValueError(f"rank returned {len(scores)} scores for {len(specs)} specs")
    return scores


def _final_ranking(rank: RankFn, history: Sequence[Spec]) -> list[Candidate]:
    scores = _call(rank, history)
    order = sorted(range(len(history)), key=lambda i: (-_fitness(scores[i]), i))
    return [Candidate(history[i], scores[i]) for i in order]


def _new_specs(
    count: int,
    propose: Callable[[], Spec],
    key: Callable[[Spec], str],
    seen: set[str],
    max_retries: int,
) -> list[Spec]:
    """Up to ``count`` proposals whose ``key`` was not seen before; fewer when
    ``max_retries`` consecutive proposals are all repeats."""
    found: list[Spec] = []
    misses = 0
    while len(found) < count and misses < max_retries:
        spec = propose()
        spec_key = key(spec)
        if spec_key in seen:
            misses += 1
            continue
        misses = 0
        seen.add(spec_key)
        found.append(spec)
    return found


def _canonical_key(space: str, settings: Mapping[str, Any] | None) -> Callable[[Spec], str]:
    sp = spaces.get(space, **(settings or {}))
    return lambda spec: sp.canonical_key(sp.parse(spec))


def regularized_evolution(
    rank: RankFn,
    budget: int,
    *,
    population_size: int = 50,
    sample_size: int = 10,
    batch_size: int = 25,
    seed: int = 0,
    space: str = "nb201",
    settings: Mapping[str, Any] | None = None,
    sample: SampleFn | None = None,
    mutate: MutateFn | None = None,
    max_retries: int = 200,
    on_progress: ProgressFn | None = None,
) -> SearchResult:
    """Aging evolution over ``space`` with at most ``budget`` distinct architectures
    evaluated.

    ``sample`` draws the initial population and ``mutate`` breeds children (both seeded by
    one ``random.Random(seed)``); they default to the space's (:func:`spec_operators`).
    Override them to search a restricted set of specs.
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
    space_sample, space_mutate = spec_operators(space, settings)
    draw, vary = sample or space_sample, mutate or space_mutate
    key = _canonical_key(space, settings)
    rng = random.Random(seed)
    seen: set[str] = set()
    history = _new_specs(min(population_size, budget), lambda: draw(rng), key, seen, max_retries)
    if not history:
        raise SearchError("could not sample any architecture")
    # Members are indices into ``history`` (specs need not be hashable); ``fitness`` holds
    # the values of the latest call, which ranked the whole population.
    fitness = dict(enumerate(_call(rank, history)))
    calls = 1
    population = deque(range(len(history)))
    trace = [max(_fitness(fitness[i]) for i in population)]
    if on_progress:
        on_progress(len(history), budget)

    def breed() -> Spec:
        contestants = rng.sample(list(population), min(sample_size, len(population)))
        parent = max(contestants, key=lambda i: _fitness(fitness[i]))
        return vary(history[parent], rng)

    stopped_early = False
    while len(history) < budget:
        children = _new_specs(min(batch_size, budget - len(history)), breed, key, seen, max_retries)
        if not children:
            stopped_early = True
            break
        # Rank the children together with the population: one scale for everyone.
        members = [*population, *range(len(history), len(history) + len(children))]
        history.extend(children)
        fitness = dict(zip(members, _call(rank, [history[i] for i in members]), strict=True))
        calls += 1
        for child in members[len(population) :]:
            population.append(child)
            if len(population) > population_size:
                population.popleft()  # the oldest dies, however fit
        trace.append(max(_fitness(fitness[i]) for i in population))
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
    settings: Mapping[str, Any] | None = None,
    sample: SampleFn | None = None,
    max_retries: int = 200,
    on_progress: ProgressFn | None = None,
) -> SearchResult:
    """The baseline: ``budget`` distinct random architectures, ranked together in one
    call. ``sample`` defaults to the space's (:func:`spec_operators`)."""
    check_space(space)
    if budget < 1:
        raise SearchError(f"budget must be at least 1, got {budget}")
    draw = sample or spec_operators(space, settings)[0]
    rng = random.Random(seed)
    key = _canonical_key(space, settings)
    history = _new_specs(budget, lambda: draw(rng), key, set(), max_retries)
    if on_progress:
        on_progress(len(history), budget)
    return SearchResult(_final_ranking(rank, history), history, 1, len(history) < budget)


def service_ranker(
    client: ScoringClient,
    proxies: Sequence[str],
    *,
    ensemble: str = "log_rank",
    second_stage: SecondStage | None = None,
    data: Mapping[str, Any] | None = None,
    init_seed: int = 0,
    space: str = "nb201",
    settings: Mapping[str, Any] | None = None,
    poll_seconds: float = 0.5,
) -> RankFn:
    """A ``rank`` function scoring through the service with a ``zero_cost.client.Client``.

    Specs (of ``space`` with ``settings``) are stored with one submit (the service
    deduplicates them, so results are mapped back by architecture id) and ranked together
    with ``Client.rank``, which waits until every candidate is scored (or failed for good);
    ``second_stage`` re-ranks the best of each ranking (``zero_cost.ensemble.two_stage``).
    """
    extra = {"settings": dict(settings)} if settings else {}

    def rank(specs: Sequence[Spec]) -> list[float | None]:
        stored = client.submit([{"space": space, "spec": s, **extra} for s in specs])
        ids = list(dict.fromkeys(a.id for a in stored))
        ranking = client.rank(
            ids,
            proxies,
            ensemble=ensemble,
            second_stage=second_stage,
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
    settings: Mapping[str, Any] | None = None,
    poll_seconds: float = 0.5,
) -> RankFn:
    """A ``rank`` function with the service's learned predictor (``ensemble="learned"``).

    ``accuracies`` maps specs of ``space`` written as strings (any spelling the space
    parses, e.g. an NB201 ``arch_str``) to their true accuracy, e.g. from a benchmark table;
    they are matched by the space's ``identity_key``, the service's key of an architecture's
    own accuracy. Every call scores the specs, reports the accuracies of those found in
    ``accuracies`` (once each, as ``dataset``/``metric``), and retrains the predictor
    whenever ``retrain_every`` proposals were ranked since the last training (and at the
    first call). Until a predictor exists (training needs 5 labelled architectures) the
    ``log_rank`` ensemble ranks.

    Raises:
        SearchError: a key of ``accuracies`` is not a spec of the space.
    """
    sp = spaces.get(space, **(settings or {}))

    def identity(spec: Spec) -> str:
        return sp.identity_key(sp.parse(spec))

    try:
        labels = {identity(spec): value for spec, value in accuracies.items()}
    except spaces.SpecError as error:
        raise SearchError(f"accuracies: {error}") from None
    extra = {"settings": dict(settings)} if settings else {}
    state: dict[str, Any] = {"since": 0, "predictor": None, "reported": set()}

    def rank(specs: Sequence[Spec]) -> list[float | None]:
        stored = client.submit([{"space": space, "spec": s, **extra} for s in specs])
        ids = list(dict.fromkeys(a.id for a in stored))
        job = client.score(ids, proxies, data=data, init_seed=init_seed, wait=True)
        reports = [
            {"architecture": a.id, "dataset": dataset, "metric": metric, "value": value}
            for s, a in zip(specs, stored, strict=True)
            if a.id not in state["reported"] and (value := labels.get(identity(s))) is not None
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
