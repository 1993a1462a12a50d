"""Repeated scores (``zero_cost.repeats``): the summary of k single scores, checked by hand,
and ``score_repeated`` against the single scores it repeats on a tiny NB201 network."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from proxy_support import NB201_ARCH
from torch import nn

import zero_cost
import zero_cost.repeats
from zero_cost import proxies, spaces
from zero_cost.data import Batch, synthetic_batch
from zero_cost.engine import ScoreResult
from zero_cost.repeats import RepeatedScore, score_repeated, summarise

NWOT = proxies.get("nwot").version
SYNFLOW = proxies.get("synflow").version


def _plain(value: float, seconds: float = 1.0) -> ScoreResult:
    """An ok nwot score (a proxy ranked on its values)."""
    return ScoreResult("nwot", NWOT, value, seconds)


def _synflow(value: float, seconds: float = 1.0) -> ScoreResult:
    """An ok synflow score (a log-scale proxy), with its natural log as the engine sets it."""
    log_value = math.log(value) if value > 0 else -math.inf
    return ScoreResult("synflow", SYNFLOW, value, seconds, log_value=log_value)


# -- summarise --------------------------------------------------------------------------------


def test_plain_values_mean_and_sample_std() -> None:
    summary = summarise([_plain(1.0, 0.5), _plain(2.0, 0.25), _plain(4.0, 0.25)])
    # mean 7/3; deviations -4/3, -1/3, 5/3: squares sum to 42/9, over k - 1 = 2: 7/3.
    assert summary.value == pytest.approx(7 / 3, rel=1e-15)
    assert summary.std == pytest.approx(math.sqrt(7 / 3), rel=1e-15)
    assert (summary.proxy, summary.version, summary.k) == ("nwot", NWOT, 3)
    assert summary.seconds == pytest.approx(1.0)
    assert (summary.status, summary.error, summary.log_value) == ("ok", None, None)


def test_log_scale_geometric_mean_and_log_std() -> None:
    summary = summarise([_synflow(10.0), _synflow(1000.0)])
    # logs ln 10 and 3 ln 10: mean 2 ln 10 (geometric mean 100), std sqrt(2) ln 10.
    assert summary.log_value == pytest.approx(2 * math.log(10), rel=1e-15)
    assert summary.value == pytest.approx(100.0, rel=1e-12)
    assert summary.std == pytest.approx(math.sqrt(2) * math.log(10), rel=1e-15)
    assert summary.status == "ok"


def test_one_repeat_has_zero_std() -> None:
    assert summarise([_plain(-3.5, 0.2)]) == RepeatedScore("nwot", NWOT, -3.5, 0.0, 1, 0.2)
    single = summarise([_synflow(math.e**5)])
    assert (single.std, single.k) == (0.0, 1)
    assert single.log_value == pytest.approx(5.0, rel=1e-15)


@pytest.mark.parametrize("status", ["nonfinite", "error"])
def test_a_failed_repeat_fails_the_summary(status: str) -> None:
    bad = ScoreResult("nwot", NWOT, math.nan, 0.5, status, "it went wrong")  # type: ignore[arg-type]
    summary = summarise([_plain(1.0), bad, _plain(2.0), bad])
    assert summary.status == status
    assert math.isnan(summary.value) and math.isnan(summary.std)
    assert summary.error == "repeat 1 of 4: it went wrong"  # the first failing repeat
    assert (summary.k, summary.seconds) == (4, 3.0)
    alone = summarise([bad])  # one repeat: its own reason, unprefixed
    assert (alone.status, alone.error, alone.k) == (status, "it went wrong", 1)


def test_log_scale_zero_values_give_zero_and_minus_infinity() -> None:
    # synflow of a cell with no input-output path: value 0, log -inf, status ok.
    summary = summarise([_synflow(0.0), _synflow(0.0), _synflow(0.0)])
    assert summary.status == "ok"
    assert summary.value == 0.0
    assert summary.log_value == -math.inf
    assert summary.std == 0.0
    # one zero among positive values still drags the geometric mean to 0
    mixed = summarise([_synflow(5.0), _synflow(0.0)])
    assert (mixed.value, mixed.log_value, mixed.status) == (0.0, -math.inf, "ok")


def test_mixed_proxies_or_versions_raise() -> None:
    with pytest.raises(ValueError, match="several proxies"):
        summarise([_plain(1.0), _synflow(1.0)])
    with pytest.raises(ValueError, match="several proxies"):
        summarise([_plain(1.0), ScoreResult("nwot", NWOT + "-other", 1.0, 1.0)])


def test_no_results_raise() -> None:
    with pytest.raises(ValueError, match="no scores"):
        summarise([])


# -- score_repeated on a tiny network ---------------------------------------------------------

PROXIES = ("synflow", "nwot", "snip")  # log scale; label-free; needs labels


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on a busy machine, threads waiting for each other cost far more than
    these tiny networks' arithmetic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(seed: int) -> nn.Module:
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    return space.build(space.parse(NB201_ARCH), num_classes=10, seed=seed)


def _batches(*seeds: int) -> list[Batch]:
    return [synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=s) for s in seeds]


def _same_but_seconds(a: RepeatedScore, b: RepeatedScore) -> bool:
    fields = ("proxy", "version", "value", "std", "k", "status", "error", "log_value")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def test_two_seeds_by_two_batches_equal_the_summary_of_four_single_scores() -> None:
    seeds, batches = (3, 4), _batches(0, 1)
    repeated = score_repeated(_build, PROXIES, batches, seeds)
    singles = [
        zero_cost.score(_build(seed), PROXIES, b.inputs, b.targets, seed=seed)
        for seed in seeds
        for b in batches
    ]
    assert set(repeated) == set(PROXIES)
    for name in PROXIES:
        by_hand = summarise([run[name] for run in singles])
        assert by_hand.status == "ok" and by_hand.k == 4
        assert _same_but_seconds(repeated[name], by_hand), name
        assert repeated[name].std > 0  # seeds and batches do change every one of these
    values = [run["nwot"].value for run in singles]
    assert repeated["nwot"].value == pytest.approx(sum(values) / 4, rel=1e-12)
    logs = [run["synflow"].log_value for run in singles]
    assert repeated["synflow"].log_value == pytest.approx(sum(logs) / 4, rel=1e-12)


def test_rerun_is_bit_identical() -> None:
    first = score_repeated(_build, PROXIES, _batches(0, 1), (0, 1))
    second = score_repeated(_build, PROXIES, _batches(0, 1), (0, 1))
    for name in PROXIES:
        assert _same_but_seconds(first[name], second[name]), name


def test_one_seed_one_batch_is_the_single_score() -> None:
    (batch,) = _batches(2)
    repeated = score_repeated(_build, ["nwot"], [batch], [7])
    single = zero_cost.score(_build(7), ["nwot"], batch.inputs, seed=7)["nwot"]
    assert (repeated["nwot"].value, repeated["nwot"].std, repeated["nwot"].k) == (
        single.value,
        0.0,
        1,
    )


@pytest.mark.parametrize(("names", "labelled"), [(("synflow", "nwot"), False), (PROXIES, True)])
def test_labels_only_when_a_proxy_needs_them(
    monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...], labelled: bool
) -> None:
    seen: list[bool] = []
    real = zero_cost.repeats.score

    def spy(model, proxy_names, inputs, targets=None, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(targets is not None)
        return real(model, proxy_names, inputs, targets, **kwargs)

    monkeypatch.setattr(zero_cost.repeats, "score", spy)
    score_repeated(_build, names, _batches(0), (0, 1))
    assert seen == [labelled, labelled]


def test_no_seeds_or_no_batches_raise() -> None:
    with pytest.raises(ValueError, match="at least one"):
        score_repeated(_build, ["nwot"], _batches(0), [])
    with pytest.raises(ValueError, match="at least one"):
        score_repeated(_build, ["nwot"], [], [0])
