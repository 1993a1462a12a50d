"""Search in every space with a mutation (``zero_cost.search.OPERATORS``), with a fake
ranker (fitness = the analytic parameter count), and the service rankers with dict specs
(DARTS genotypes), with a fake client."""

from __future__ import annotations

import copy
import importlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from zero_cost import search, spaces
from zero_cost.spaces import darts

SETTINGS: dict[str, dict[str, int]] = {"darts": {"channels": 8, "layers": 5}}
"""Small networks where the default is large (the parameter count is analytic anyway)."""
SMALL_DARTS = SETTINGS["darts"]
SEARCHED = list(search.OPERATORS)


class ParamRanker:
    """Fitness = parameter count in the space as configured; records every call."""

    def __init__(self, space: str) -> None:
        self.space = spaces.get(space, **SETTINGS.get(space, {}))
        self.calls: list[list[Any]] = []

    def params(self, spec: Any) -> float:
        return float(self.space.param_count(self.space.parse(spec)))

    def __call__(self, specs: Sequence[Any]) -> list[float]:
        self.calls.append(list(specs))
        return [self.params(s) for s in specs]


def evolve(space: str, seed: int = 1) -> tuple[search.SearchResult, ParamRanker]:
    ranker = ParamRanker(space)
    result = search.regularized_evolution(
        ranker,
        60,
        population_size=12,
        sample_size=4,
        batch_size=8,
        seed=seed,
        space=space,
        settings=SETTINGS.get(space),
    )
    return result, ranker


def test_every_space_with_a_mutation_is_searchable() -> None:
    """``OPERATORS`` holds exactly the spaces whose module defines both functions."""
    assert {"nb201", "darts", "nats_sss"} <= set(SEARCHED)
    for name in spaces.names():
        module = importlib.import_module(type(spaces.get(name)).__module__)
        defined = hasattr(module, "random_arch") and hasattr(module, "mutate")
        assert (name in search.OPERATORS) == defined, name
        if defined:
            assert search.OPERATORS[name] == search.Operators(module.random_arch, module.mutate)


@pytest.mark.parametrize("space", SEARCHED)
def test_spec_operators_write_specs_as_the_space_does(space: str) -> None:
    sp = spaces.get(space, **SETTINGS.get(space, {}))
    sample, mutate = search.spec_operators(space, SETTINGS.get(space))
    rng = random.Random(0)
    for _ in range(20):
        parent = sample(rng)
        child = mutate(parent, rng)
        assert json.loads(json.dumps(child)) == child  # JSON-compatible
        assert sp.to_spec(sp.parse(child)) == child and child != parent


@pytest.mark.parametrize("space", SEARCHED)
def test_evolution_in_every_space(space: str) -> None:
    result, ranker = evolve(space)
    sp = ranker.space
    assert result.evaluated == 60 == len(result.history)
    keys = [sp.canonical_key(sp.parse(s)) for s in result.history]
    assert len(set(keys)) == len(keys)  # distinct by the space's canonical key
    assert all(sp.to_spec(sp.parse(s)) == s for s in result.history)
    # The population first, then each batch ranked with the population, then all of them.
    assert len(ranker.calls[0]) == 12
    assert [len(call) for call in ranker.calls[1:-1]] == [12 + 8] * 6
    assert ranker.calls[-1] == result.history
    assert result.rank_calls == len(ranker.calls) == 8
    assert result.best.score == max(ranker.params(s) for s in result.history)
    assert result.best.score > max(ranker.params(s) for s in ranker.calls[0])
    assert [c.score for c in result.ranking] == sorted(
        (c.score for c in result.ranking), reverse=True
    )


@pytest.mark.parametrize("space", ["darts", "nats_sss"])
def test_evolution_is_deterministic_for_a_seed(space: str) -> None:
    first, _ = evolve(space, seed=4)
    again, _ = evolve(space, seed=4)
    other, _ = evolve(space, seed=5)
    assert again.history == first.history and again.ranking == first.ranking
    assert other.history != first.history


@pytest.mark.parametrize("space", SEARCHED)
def test_random_search_in_every_space(space: str) -> None:
    ranker = ParamRanker(space)
    settings = SETTINGS.get(space)
    result = search.random_search(ranker, 25, seed=3, space=space, settings=settings)
    again = search.random_search(ParamRanker(space), 25, seed=3, space=space, settings=settings)
    sp = ranker.space
    assert result.evaluated == 25 and not result.stopped_early
    assert ranker.calls == [result.history] and result.rank_calls == 1
    assert len({sp.canonical_key(sp.parse(s)) for s in result.history}) == 25
    assert result.best.score == max(ranker.params(s) for s in result.history)
    assert again.history == result.history


def swapped(genotype: dict[str, Any]) -> dict[str, Any]:
    """The genotype with the two pairs of the first normal node in the other order: another
    spec of the same architecture."""
    other = copy.deepcopy(genotype)
    other["normal"][0], other["normal"][1] = other["normal"][1], other["normal"][0]
    return other


def test_dict_specs_are_deduplicated_by_canonical_key_and_returned_as_given() -> None:
    sp = spaces.get("darts", **SMALL_DARTS)
    a = sp.to_spec(darts.random_arch(random.Random(0)))
    b = swapped(a)
    assert a != b and sp.canonical_key(sp.parse(a)) == sp.canonical_key(sp.parse(b))
    result = search.random_search(
        ParamRanker("darts"),
        5,
        space="darts",
        settings=SMALL_DARTS,
        sample=lambda rng: rng.choice([a, b]),
        max_retries=10,
    )
    assert result.evaluated == 1 and result.stopped_early
    assert result.best.spec is a or result.best.spec is b


def test_darts_settings_reach_the_canonical_key() -> None:
    """With an all-zero reduction cell, the network is constant (one degenerate
    architecture) at 3 layers, where the last cell is a reduction cell, but not at 5."""
    zero = [["none", 0], ["none", 1]] * 4

    def sample(rng: random.Random) -> dict[str, Any]:
        return {**darts.DartsSpace().to_spec(darts.random_arch(rng)), "reduce": zero}

    def evaluated(layers: int) -> int:
        settings = {"channels": 8, "layers": layers}
        rank = ParamRanker("darts")
        found = search.random_search(rank, 5, space="darts", settings=settings, sample=sample)
        return found.evaluated

    assert (evaluated(3), evaluated(5)) == (1, 5)


# -- the service rankers, with a fake client ---------------------------------------------------


@dataclass(frozen=True)
class Stored:
    id: int


@dataclass(frozen=True)
class Ranked:
    architecture_id: int
    score: float | None


class FakeClient:
    """Stores specs by identity key (as the service does) and ranks by parameter count."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.params: dict[int, float] = {}
        self.submitted: list[Mapping[str, Any]] = []
        self.reports: list[Mapping[str, Any]] = []

    def submit(self, architectures: Sequence[Mapping[str, Any]]) -> list[Stored]:
        self.submitted.extend(architectures)
        stored = []
        for item in architectures:
            sp = spaces.get(item["space"], **item.get("settings", {}))
            arch = sp.parse(item["spec"])
            ident = self.ids.setdefault(sp.identity_key(arch), len(self.ids) + 1)
            self.params[ident] = float(sp.param_count(arch))
            stored.append(Stored(ident))
        return stored

    def score(self, architectures: Sequence[int], proxies: Sequence[str], **_: Any) -> Any:
        return SimpleNamespace(data_profile_id=1)

    def rank(self, architectures: Sequence[int], *_: Any, **__: Any) -> list[Ranked]:
        return [Ranked(i, self.params[i]) for i in architectures]

    def add_accuracies(self, items: Any) -> int:
        self.reports.extend(items)
        return len(self.reports)

    def train_predictor(self, *_: Any, **__: Any) -> dict:
        return {"status": "failed"}


def test_service_ranker_searches_darts_with_its_settings() -> None:
    client = FakeClient()
    rank = search.service_ranker(client, ["params"], space="darts", settings=SMALL_DARTS)
    a = spaces.get("darts").to_spec(darts.random_arch(random.Random(1)))
    scores = rank([a, swapped(a)])
    assert scores[0] == scores[1] is not None  # one architecture to the service
    result = search.regularized_evolution(
        rank, 20, population_size=6, sample_size=3, batch_size=7, space="darts",
        settings=SMALL_DARTS,
    )  # fmt: skip
    assert result.evaluated == 20 and isinstance(result.best.spec, dict)
    assert result.best.score == max(rank(result.history))
    assert all(
        item["space"] == "darts" and item["settings"] == SMALL_DARTS for item in client.submitted
    )


def test_learning_ranker_matches_accuracies_by_identity() -> None:
    sp = spaces.get("darts", **SMALL_DARTS)
    a, c = (sp.to_spec(darts.random_arch(random.Random(seed))) for seed in (2, 3))
    accuracies = {sp.parse(a).genotype: 0.9, json.dumps(c): 0.5}
    client = FakeClient()
    rank = search.learning_ranker(
        client, ["params"], dataset="d", accuracies=accuracies, space="darts",
        settings=SMALL_DARTS,
    )  # fmt: skip
    other = sp.to_spec(darts.random_arch(random.Random(4)))
    scores = rank([swapped(a), other, c])
    assert len(scores) == 3 and None not in scores
    assert [r["value"] for r in client.reports] == [0.9, 0.5]  # other has no accuracy
    rank([a, c])
    assert len(client.reports) == 2  # each reported once
    with pytest.raises(search.SearchError, match="accuracies"):
        search.learning_ranker(
            client, ["params"], dataset="d", accuracies={"nope": 1.0}, space="darts"
        )
