"""The scoring engine: reproducibility, leaving the model untouched, chunking, OOM retry,
per-proxy error isolation, degenerate architectures and argument checking."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import zero_cost.passes
from zero_cost import proxies, spaces
from zero_cost.data import synthetic_batch
from zero_cost.engine import ScoreResult, score

ALL = proxies.names()
LABEL_FREE = [n for n in proxies.names() if not proxies.get(n).needs_labels]
NEEDS_LABELS = [n for n in proxies.names() if proxies.get(n).needs_labels]

NB201_ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
)
DEGENERATE_ARCH = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _nb201(arch: str = NB201_ARCH, seed: int = 0) -> nn.Module:
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    return space.build(space.parse(arch), num_classes=10, seed=seed)


def _nb201_batch(size: int = 8):
    return synthetic_batch(size, input_shape=(3, 16, 16), num_classes=10, seed=0)


def _cnn(seed: int = 0) -> nn.Module:
    """A small CNN without batch-coupled layers: samples are processed independently."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(6, 5),
        )


def _cnn_batch(size: int = 8):
    return synthetic_batch(size, input_shape=(3, 8, 8), num_classes=5, seed=1)


def _values(results: dict[str, ScoreResult]) -> dict[str, float]:
    return {name: r.value for name, r in results.items()}


def _assert_all_ok(results: dict[str, ScoreResult]) -> None:
    for name, result in results.items():
        assert result.status == "ok", f"{name}: {result.error}"


# -- reproducibility -------------------------------------------------------------------------


def test_same_model_twice_is_bit_identical():
    model, batch = _nb201(), _nb201_batch()
    first = score(model, ALL, batch.inputs, batch.targets, seed=3)
    second = score(model, ALL, batch.inputs, batch.targets, seed=3)
    _assert_all_ok(first)
    for name in ALL:
        assert first[name].value == second[name].value, name
        assert first[name].log_value == second[name].log_value, name


def test_independently_built_models_score_identically():
    batch = _nb201_batch()
    first = score(_nb201(seed=5), ALL, batch.inputs, batch.targets)
    second = score(_nb201(seed=5), ALL, batch.inputs, batch.targets)
    _assert_all_ok(first)
    assert _values(first) == _values(second)


def test_seed_drives_randomness_inside_the_model_and_spares_the_global_rng():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    batch = synthetic_batch(6, input_shape=(6,), num_classes=3, seed=0)
    state = torch.get_rng_state()
    a = score(model, ["snip"], batch.inputs, batch.targets, seed=1)["snip"].value
    b = score(model, ["snip"], batch.inputs, batch.targets, seed=1)["snip"].value
    c = score(model, ["snip"], batch.inputs, batch.targets, seed=2)["snip"].value
    assert a == b
    assert a != c  # a different dropout mask
    assert torch.equal(torch.get_rng_state(), state)


# -- the model is left as it came ------------------------------------------------------------


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_model_is_left_unchanged(mode):
    model, batch = _nb201(), _nb201_batch()
    if mode == "eval":
        model.eval()
    elif mode == "mixed":
        model.train()
        model.stem.eval()
        model.lastact[0].eval()
    flags = [m.training for m in model.modules()]
    before = _snapshot(model)
    assert any("num_batches_tracked" in n for n in before)
    assert any("running_mean" in n for n in before)
    inputs_before = batch.inputs.clone()
    requires_grad = [p.requires_grad for p in model.parameters()]

    results = score(model, ALL, batch.inputs, batch.targets)
    _assert_all_ok(results)

    after = model.state_dict()
    assert set(after) == set(before)
    for name, tensor in before.items():
        assert after[name].dtype == tensor.dtype, name
        assert torch.equal(after[name], tensor), name
    assert [m.training for m in model.modules()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == requires_grad
    assert torch.equal(batch.inputs, inputs_before)


# -- chunking --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn_unchunked():
    batch = _cnn_batch()
    results = score(_cnn(), ALL, batch.inputs, batch.targets, chunks=1)
    _assert_all_ok(results)
    return results


@pytest.mark.parametrize("chunks", [2, 3, 4])
def test_chunking_does_not_change_scores_without_batchnorm(cnn_unchunked, chunks):
    batch = _cnn_batch()
    chunked = score(_cnn(), ALL, batch.inputs, batch.targets, chunks=chunks)
    _assert_all_ok(chunked)
    for name in ALL:
        expected = cnn_unchunked[name].value
        assert chunked[name].value == pytest.approx(expected, rel=1e-5, abs=1e-9), name
    # Counts and the kernel of binary codes do not depend on the split at all.
    for name in ("params", "flops", "synflow", "nwot"):
        assert chunked[name].value == cnn_unchunked[name].value, name


def test_chunking_with_batchnorm_stays_close():
    # BatchNorm in train mode normalises each chunk by that chunk's own statistics, so with
    # BN the chunked scores are not equal to the unchunked ones, only close. Proxies that do
    # not use the batch (params, flops, synflow) are unaffected.
    model, batch = _nb201(), _nb201_batch()
    whole = score(model, ALL, batch.inputs, batch.targets, chunks=1)
    halves = score(model, ALL, batch.inputs, batch.targets, chunks=2)
    _assert_all_ok(whole)
    _assert_all_ok(halves)
    for name in ("params", "flops", "synflow"):
        assert halves[name].value == whole[name].value, name
    for name in ("nwot", "jacob_cov"):
        assert halves[name].value == pytest.approx(whole[name].value, rel=0.02), name
    for name in ("snip", "grad_norm", "fisher", "zico"):
        assert halves[name].value == pytest.approx(whole[name].value, rel=0.3), name
    # GraSP (a second-order quantity) moves most; it keeps its sign and magnitude.
    assert 0.5 < halves["grasp"].value / whole["grasp"].value < 2.0


# -- retry on out-of-memory ------------------------------------------------------------------


def _oom() -> RuntimeError:
    return RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")


def test_out_of_memory_in_main_pass_is_retried_with_more_chunks(monkeypatch):
    batch = _cnn_batch()
    expected = score(_cnn(), ALL, batch.inputs, batch.targets, chunks=2)
    original = zero_cost.passes._MainPass.run
    seen_chunks: list[int] = []

    def run_with_oom_once(self):
        seen_chunks.append(self.p.chunks)
        if self.p.chunks == 1:
            raise _oom()
        return original(self)

    monkeypatch.setattr(zero_cost.passes._MainPass, "run", run_with_oom_once)
    model = _cnn()
    before = _snapshot(model)
    results = score(model, ALL, batch.inputs, batch.targets, chunks=1)
    assert seen_chunks == [1, 2]
    _assert_all_ok(results)
    for name in ALL:
        assert results[name].value == pytest.approx(expected[name].value, rel=1e-9), name
    after = model.state_dict()
    assert all(torch.equal(after[n], t) for n, t in before.items())
    assert all(p.grad is None for p in model.parameters())


def test_persistent_out_of_memory_gives_up_at_one_sample_per_chunk(monkeypatch):
    seen_chunks: list[int] = []

    def always_oom(self):
        seen_chunks.append(self.p.chunks)
        raise _oom()

    monkeypatch.setattr(zero_cost.passes._MainPass, "run", always_oom)
    model, batch = _nb201(), _nb201_batch(8)
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match="out of memory"):
        score(model, ["snip"], batch.inputs, batch.targets)
    assert seen_chunks == [1, 2, 4, 8]
    after = model.state_dict()
    assert all(torch.equal(after[n], t) for n, t in before.items())


def test_non_memory_error_in_main_pass_is_not_retried(monkeypatch):
    calls: list[int] = []

    def broken(self):
        calls.append(self.p.chunks)
        raise RuntimeError("deliberately broken main pass")

    monkeypatch.setattr(zero_cost.passes._MainPass, "run", broken)
    batch = _cnn_batch()
    results = score(_cnn(), ALL, batch.inputs, batch.targets)
    assert calls == [1]
    for name in ALL:
        if proxies.get(name).needs:
            assert results[name].status == "error", name
            assert "deliberately broken main pass" in results[name].error
            assert math.isnan(results[name].value)
        else:
            assert results[name].status == "ok", name


# -- error isolation -------------------------------------------------------------------------


@pytest.fixture
def temporary_proxies():
    """Registers test-only proxies and removes them from the registry afterwards."""
    added: list[str] = []

    def add(name: str, fn, **options) -> None:
        proxies.register(name, version="test-1", **options)(fn)
        added.append(name)

    try:
        yield add
    finally:
        for name in added:
            proxies._REGISTRY.pop(name, None)


def test_a_raising_proxy_is_isolated(temporary_proxies):
    def raises(passes):
        """Always fails."""
        raise ValueError("deliberate failure")

    def raises_after_main_pass(passes):
        """Reads the shared gradients, then fails."""
        passes.weight_grads()
        raise ZeroDivisionError("shared-pass reader failed")

    temporary_proxies("_test_raises", raises)
    temporary_proxies("_test_raises_shared", raises_after_main_pass, needs={"weight_grads"})
    batch = _cnn_batch()
    names = ["snip", "_test_raises", "synflow", "_test_raises_shared", "nwot", "params"]
    results = score(_cnn(), names, batch.inputs, batch.targets)
    assert list(results) == names
    assert results["_test_raises"].status == "error"
    assert results["_test_raises"].error == "ValueError: deliberate failure"
    assert results["_test_raises"].version == "test-1"
    assert math.isnan(results["_test_raises"].value)
    assert results["_test_raises_shared"].status == "error"
    assert "shared-pass reader failed" in results["_test_raises_shared"].error
    for name in ("snip", "synflow", "nwot", "params"):
        assert results[name].status == "ok", name
        assert results[name].error is None
    # The other proxies' values are those they get when scored alone.
    alone = score(_cnn(), ["snip", "synflow", "nwot", "params"], batch.inputs, batch.targets)
    for name, result in alone.items():
        assert results[name].value == result.value, name
    assert "_test_raises" in proxies.names()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_nonfinite_proxy_is_flagged(temporary_proxies, bad):
    def returns_bad(passes):
        """Returns a non-finite value."""
        return bad

    temporary_proxies("_test_nonfinite", returns_bad)
    batch = _cnn_batch()
    results = score(_cnn(), ["_test_nonfinite", "params"], batch.inputs, batch.targets)
    result = results["_test_nonfinite"]
    assert result.status == "nonfinite"
    assert result.error and "non-finite" in result.error
    assert result.value == bad or (math.isnan(bad) and math.isnan(result.value))
    assert results["params"].status == "ok"


def test_temporary_proxies_are_removed_after_use():
    assert not [n for n in proxies.names() if n.startswith("_test")]


# -- an architecture with no input-output path ------------------------------------------------


@pytest.fixture(scope="module")
def degenerate_results():
    model, batch = _nb201(DEGENERATE_ARCH), _nb201_batch()
    return score(model, ALL, batch.inputs, batch.targets)


def test_degenerate_architecture_scores_as_documented(degenerate_results):
    results = degenerate_results
    assert set(results) == set(ALL)
    for name in ("snip", "grad_norm", "grasp", "synflow"):
        assert results[name].status == "ok", f"{name}: {results[name].error}"
        assert results[name].value == 0.0, name
    assert results["synflow"].log_value == -math.inf
    assert results["nwot"].status == "nonfinite"
    assert results["nwot"].value == -math.inf
    assert results["jacob_cov"].status == "nonfinite"
    assert math.isnan(results["jacob_cov"].value)
    for name in ("params", "flops"):
        assert results[name].status == "ok"
        assert results[name].value > 0


def test_degenerate_architecture_fisher_comes_from_the_classifier_bias(degenerate_results):
    # What fisher actually is there: every logit equals the classifier bias b (the features
    # are 0), so the only non-zero term is the classifier's,
    # sum_k 0.5 * mean_n (b_k * dL/dy_nk)^2 * fan_in with dL/dy_n = (softmax(b) - onehot(t_n))
    # / N, each unit counted once per weight feeding it (the classifier's in_features).
    model, batch = _nb201(DEGENERATE_ARCH), _nb201_batch()
    bias = model.classifier.bias.detach().double()
    n = len(batch.targets)
    onehot = torch.nn.functional.one_hot(batch.targets, bias.numel()).double()
    grad = (torch.softmax(bias, 0) - onehot) / n
    fan_in = model.classifier.in_features
    expected = float((0.5 * ((bias * grad) ** 2).mean(0)).sum()) * fan_in
    assert degenerate_results["fisher"].status == "ok"
    assert degenerate_results["fisher"].value == pytest.approx(expected, rel=1e-5)


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEEDS_LABELS)
def test_missing_targets_raise_value_error(name):
    assert proxies.get(name).needs_labels
    batch = _cnn_batch()
    with pytest.raises(ValueError, match=name):
        score(_cnn(), [name, "params"], batch.inputs, None)


def test_unknown_proxy_raises_key_error():
    batch = _cnn_batch()
    with pytest.raises(KeyError, match="no_such_proxy"):
        score(_cnn(), ["params", "no_such_proxy"], batch.inputs, batch.targets)


def test_label_free_proxies_work_without_targets():
    batch = _cnn_batch()
    results = score(_cnn(), LABEL_FREE, batch.inputs, None)
    assert list(results) == LABEL_FREE
    _assert_all_ok(results)
    with_targets = score(_cnn(), LABEL_FREE, batch.inputs, batch.targets)
    assert _values(results) == _values(with_targets)


def test_results_carry_name_version_and_time(cnn_unchunked):
    for name, result in cnn_unchunked.items():
        info = proxies.get(name)
        assert isinstance(result, ScoreResult)
        assert result.proxy == name
        assert result.version == info.version
        assert result.seconds >= 0
        assert math.isfinite(result.seconds)
        if info.log_scale:
            assert result.log_value == pytest.approx(math.log(result.value))
        else:
            assert result.log_value is None


def test_empty_proxy_list_gives_no_results():
    batch = _cnn_batch()
    assert score(_cnn(), [], batch.inputs, batch.targets) == {}
