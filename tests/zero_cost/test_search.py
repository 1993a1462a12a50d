"""The search algorithms of ``zero_cost.search`` with a fake ranker, without a service."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from zero_cost import search, spaces

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
]

NB201 = spaces.get("nb201")


def conv_count(spec: str) -> int:
    return sum(op.startswith("nor_conv") for op in NB201.parse(spec).ops)


class FakeRanker:
    """Fitness = number of conv ops; records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, specs: list[str]) -> list[float]:
        self.calls.append(list(specs))
        return [float(conv_count(s)) for s in specs]


def test_evolution_beats_its_initial_population_within_budget() -> None:
    ranker = FakeRanker()
    result = search.regularized_evolution(
        ranker, 120, population_size=20, sample_size=5, batch_size=10, seed=3
    )
    initial_best = max(conv_count(s) for s in ranker.calls[0])
    assert len(ranker.calls[0]) == 20
    assert result.evaluated == 120 == len(result.history)
    keys = [NB201.canonical_key(NB201.parse(s)) for s in result.history]
    assert len(set(keys)) == len(keys)  # distinct cells only
    assert conv_count(result.best.spec) > initial_best
    assert conv_count(result.best.spec) == 6
    assert result.best.score == 6.0
    # Every batch was ranked together with the population it joins.
    assert all(len(call) == 20 + 10 for call in ranker.calls[1:-1])
    assert ranker.calls[-1] == result.history  # the final joint ranking
    assert result.rank_calls == len(ranker.calls)


def test_evolution_respects_a_budget_smaller_than_the_population() -> None:
    ranker = FakeRanker()
    result = search.regularized_evolution(ranker, 7, population_size=20, batch_size=4)
    assert result.evaluated == 7
    assert sum(len(call) for call in ranker.calls[:-1]) == 7


def test_evolution_is_deterministic_for_a_seed() -> None:
    a = search.regularized_evolution(FakeRanker(), 60, population_size=10, seed=1)
    b = search.regularized_evolution(FakeRanker(), 60, population_size=10, seed=1)
    assert a.history == b.history


def test_evolution_stops_when_the_space_is_exhausted() -> None:
    cells = CELLS[:3]

    def sample(rng: random.Random) -> str:
        return rng.choice(cells)

    def mutate(spec: str, rng: random.Random) -> str:
        return rng.choice(cells)

    result = search.regularized_evolution(
        FakeRanker(), 50, population_size=2, sample=sample, mutate=mutate, max_retries=20
    )
    assert result.evaluated == 3 and result.stopped_early


def test_unscored_cells_lose_tournaments() -> None:
    def rank(specs: list[str]) -> list[float | None]:
        return [None if conv_count(s) < 2 else float(conv_count(s)) for s in specs]

    result = search.regularized_evolution(rank, 40, population_size=10, seed=0)
    assert result.best.score is not None and conv_count(result.best.spec) >= 2
    scores = [c.score for c in result.ranking]
    assert scores.index(None) == len(scores) - scores.count(None)  # the unscored come last


def test_nb201_results_are_those_of_the_nb201_only_search() -> None:
    """Pinned from the search before other spaces were added (its own random_cell and
    mutate_cell): the same seed still gives the same cells."""
    evolved = search.regularized_evolution(
        FakeRanker(), 80, population_size=10, sample_size=3, batch_size=6, seed=5
    )
    digest = hashlib.sha256(json.dumps(evolved.history).encode()).hexdigest()
    assert digest == "fd91d0980cd4ec452dc19c9fba40b54521672e12a5983eacab170a05bfd2f410"
    assert search.random_search(FakeRanker(), 4, seed=2).history == [
        "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_1x1~2|",
        "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|none~1|avg_pool_3x3~2|",
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|",
        "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|",
    ]


def test_random_search_and_mutation() -> None:
    ranker = FakeRanker()
    result = search.random_search(ranker, 30, seed=0)
    assert result.evaluated == 30 and len(ranker.calls) == 1
    assert result.best.score == max(conv_count(s) for s in result.history)
    sample, mutate = search.spec_operators("nb201")
    rng = random.Random(0)
    for _ in range(50):
        parent = sample(rng)
        child = mutate(parent, rng)
        pairs = zip(NB201.parse(parent).ops, NB201.parse(child).ops, strict=True)
        assert sum(a != b for a, b in pairs) == 1


@pytest.mark.parametrize("space", ["nb101", "graph"])
def test_spaces_without_a_mutation_are_refused(space: str) -> None:
    with pytest.raises(search.SearchError, match=f"the nb201, darts, .* spaces; '{space}'"):
        search.regularized_evolution(FakeRanker(), 10, space=space)
    with pytest.raises(search.SearchError, match="needs a mutation"):
        search.random_search(FakeRanker(), 10, space=space)
