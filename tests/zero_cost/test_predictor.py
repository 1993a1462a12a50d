"""Tests for zero_cost.predictor: encodings, features, fallback, honest CV, storage."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from zero_cost import ensemble, predictor, spaces
from zero_cost.predictor import Features, Predictor, encode, encoding_names, evaluate
from zero_cost.search import OPERATORS
from zero_cost.spaces.nb201 import EDGES, OPS, NB201Arch

CACHED_SCORES = Path(__file__).resolve().parents[2] / ".cache" / "nb201_all_scores.csv"


def synthetic(n: int, seed: int = 0) -> tuple[Features, np.ndarray]:
    """Random NB201 cells whose accuracy depends on their ops, and three noisy proxies.

    synflow and nwot are label-free proxies, snip needs labels (so the fallback skips it).
    """
    rng = np.random.default_rng(seed)
    ops = rng.integers(0, len(OPS), size=(n, len(EDGES)))
    archs = [NB201Arch(tuple(OPS[i] for i in row)).arch_str for row in ops]
    conv = np.isin(ops, [2, 3]).sum(axis=1)  # nor_conv_1x1, nor_conv_3x3
    accuracy = 80 + 2.0 * conv - 1.5 * (ops == 0).sum(axis=1) + rng.normal(0, 1.0, n)
    scores = {
        "synflow": accuracy + rng.normal(0, 2.0, n),
        "nwot": accuracy + rng.normal(0, 3.0, n),
        "snip": rng.normal(0, 1.0, n),
    }
    return Features.build(scores, space="nb201", archs=archs), accuracy


# --------------------------------------------------------------------------- encodings


def test_nb201_encoding_is_one_hot_per_edge():
    arch_str = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    vector = encode("nb201", arch_str)
    assert vector.shape == (30,) == (len(encoding_names("nb201")),)
    per_edge = vector.reshape(6, 5)
    np.testing.assert_array_equal(per_edge.sum(axis=1), np.ones(6))
    assert [OPS[i] for i in per_edge.argmax(axis=1)] == list(
        spaces.get("nb201").parse(arch_str).ops
    )
    np.testing.assert_array_equal(encode("nb201", spaces.get("nb201").parse(arch_str)), vector)


def test_nb101_encoding_pads_with_output_last():
    spec = {
        "matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]],
        "ops": ["input", "conv1x1-bn-relu", "output"],
    }
    vector = encode("nb101", spec)
    names = encoding_names("nb101")
    assert vector.shape == (36,) == (len(names),)
    on = {name for name, value in zip(names, vector, strict=True) if value}
    assert on == {"nb101:edge0->1", "nb101:edge1->6", "nb101:v1=conv1x1-bn-relu"}


def test_graph_encoding_summarises_the_graph():
    spec = {
        "input_shape": [3, 8, 8],
        "nodes": [
            {"name": "a", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"name": "b", "op": "relu"},
            {"name": "s", "op": "add", "inputs": ["a", "b"]},
            {"name": "p", "op": "global_avgpool"},
            {"name": "fc", "op": "linear", "out_features": 10},
        ],
    }
    arch = spaces.get("graph").parse(spec)
    values = dict(zip(encoding_names("graph"), encode("graph", arch), strict=True))
    assert values["graph:nodes"] == 5
    assert values["graph:depth"] == 5  # a -> b -> s -> p -> fc
    assert values["graph:width"] == 10
    assert values["graph:log_params"] == pytest.approx(math.log10(1 + arch.params))
    assert values["graph:count_conv2d"] == 1 and values["graph:count_add"] == 1


def test_darts_encoding_marks_each_node_input_and_op():
    space = spaces.get("darts")
    genotype = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 2), ('dil_conv_5x5', 3), ('avg_pool_3x3', 0), ('none', 4), ('sep_conv_5x5', 1)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"  # noqa: E501
    values = dict(zip(encoding_names("darts"), encode("darts", genotype), strict=True))
    assert len(values) == 224
    assert values["darts:normal:0->2=sep_conv_3x3"] == 2.0  # the same pair twice
    assert values["darts:normal:3->4=dil_conv_5x5"] == 1.0  # node 4 from node 3
    assert values["darts:reduce:2->5=skip_connect"] == 1.0
    assert sum(values.values()) == 16.0
    np.testing.assert_array_equal(encode("darts", space.parse(genotype)), list(values.values()))


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_searchable_space_has_an_encoding(name):
    """Fixed length, named columns, the same from a spec as from its architecture, and
    different architectures told apart."""
    space = spaces.get(name)
    first = OPERATORS[name].random_arch(random.Random(0))
    child = OPERATORS[name].mutate(first, random.Random(1))
    vector = encode(name, first)
    assert vector.shape == (len(encoding_names(name)),) and np.isfinite(vector).all()
    np.testing.assert_array_equal(encode(name, space.to_spec(first)), vector)
    assert not np.array_equal(encode(name, child), vector)


def test_every_registered_space_has_an_encoding():
    for name in spaces.names():
        assert len(encoding_names(name)) > 0, name


def test_onnx_encoding_is_the_graph_summary_under_its_own_names():
    spec = {"input_shape": [8], "nodes": [{"name": "fc", "op": "linear", "out_features": 10}]}
    names = encoding_names("onnx")
    assert names[0] == "onnx:nodes" and len(names) == len(encoding_names("graph"))
    np.testing.assert_array_equal(encode("onnx", spec), encode("graph", spec))


def test_unknown_space_has_no_encoding():
    with pytest.raises(KeyError, match="no architecture encoding"):
        encode("nb301", "anything")


# --------------------------------------------------------------------------- features


def test_features_columns_and_missing_values():
    features = Features.build(
        {"synflow": [math.e, None, 0.0], "nwot": [1.0, math.inf, 2.0]}, raw=True
    )
    assert features.names == features.proxies == ("synflow", "nwot")
    # raw=True logs the log-scale proxy only; None, inf and log(0) become NaN.
    np.testing.assert_array_equal(features.values, [[1.0, 1.0], [np.nan, np.nan], [np.nan, 2.0]])
    both = Features.build({"nwot": [1.0]}, space="nb201", archs=[(0, 1, 2, 3, 4, 0)])
    assert both.values.shape == (1, 31) and both.proxies == ("nwot",)


def test_features_reject_bad_input():
    with pytest.raises(ValueError, match="one value per architecture"):
        Features.build({"nwot": [1.0, 2.0]}, space="nb201", archs=[(0, 1, 2, 3, 4, 0)])
    with pytest.raises(ValueError, match="without the space"):
        Features.build({"nwot": [1.0]}, archs=[(0, 1, 2, 3, 4, 0)])
    with pytest.raises(ValueError, match="no features"):
        Features.build({})


# --------------------------------------------------------------------------- fallback


def test_fallback_below_the_minimum_of_labels():
    features, accuracy = synthetic(60)
    model = Predictor().fit(features.take(range(10)), accuracy[:10])
    assert model.mode == "fallback"
    assert "10 labelled" in model.fallback_reason and "minimum of 20" in model.fallback_reason
    assert model.fallback_proxies == ("synflow", "nwot")  # snip needs labels
    rest = features.take(range(10, 60))
    expected = ensemble.log_rank({p: rest.select([p])[:, 0] for p in ("synflow", "nwot")})
    np.testing.assert_allclose(model.predict(rest), stats.rankdata(expected) / 50)


def test_minimum_counts_labelled_rows_only_and_is_configurable():
    features, accuracy = synthetic(30)
    accuracy[::2] = np.nan  # 15 labelled rows of 30
    assert Predictor().fit(features, accuracy).mode == "fallback"
    model = Predictor(min_labels=10).fit(features, accuracy)
    assert model.mode == "model" and model.fallback_reason is None and model.n_labels == 15
    with pytest.raises(ValueError, match="min_labels"):
        Predictor(min_labels=1)


def test_baseline_needs_proxy_columns():
    features, accuracy = synthetic(10)
    with pytest.raises(ValueError, match="no proxy scores for the label-free baseline"):
        Predictor().fit(features.without_proxies(), accuracy)
    with pytest.raises(ValueError, match=r"baseline proxies \['zico'\] are not proxy columns"):
        Predictor(baseline=("synflow", "zico")).fit(features, accuracy)
    with pytest.raises(ValueError, match="baseline must be"):
        Predictor(baseline="synflow")
    with pytest.raises(ValueError, match="weights must be"):
        Predictor(weights=(0.5, 2.0))


# --------------------------------------------------------------------------- model and CV


def test_model_ranks_held_out_architectures():
    features, accuracy = synthetic(200)
    model = Predictor().fit(features.take(range(150)), accuracy[:150])
    assert model.mode == "model"
    prediction = model.predict(features.take(range(150, 200)))
    assert stats.spearmanr(prediction, accuracy[150:]).statistic > 0.8


def test_cross_validation_is_out_of_fold():
    features, accuracy = synthetic(200)
    result = Predictor(weights=(1.0,)).cross_validate(features, accuracy, k=5, seed=0)
    assert result.modes == ("model",) * 5
    assert sorted(np.bincount(result.folds)) == [40] * 5
    assert result.evaluation.n == 200 and result.evaluation.spearman > 0.8


def test_shuffled_labels_give_no_out_of_fold_correlation():
    """A model that saw its test rows would still fit shuffled labels; out-of-fold it can't."""
    features, accuracy = synthetic(200)
    shuffled = np.random.default_rng(1).permutation(accuracy)
    # The model alone (weight 1), the one that could memorise.
    result = Predictor(weights=(1.0,)).cross_validate(features, shuffled, k=5, seed=0)
    assert abs(result.evaluation.spearman) < 0.2
    # The check has teeth: the same model fitted on all rows memorises the noise.
    leaky = Predictor(weights=(1.0,)).fit(features, shuffled).predict(features)
    assert stats.spearmanr(leaky, shuffled).statistic > 0.9


def test_fixed_seed_is_deterministic():
    features, accuracy = synthetic(60)
    first = Predictor().cross_validate(features, accuracy, k=3, seed=3)
    second = Predictor().cross_validate(features, accuracy, k=3, seed=3)
    np.testing.assert_array_equal(first.predictions, second.predictions)
    np.testing.assert_array_equal(first.folds, second.folds)
    assert first.evaluation == second.evaluation
    a = Predictor().fit(features, accuracy, seed=7)
    b = Predictor().fit(features, accuracy, seed=7)
    assert (a.weight, a.inner_spearman, a.choice) == (b.weight, b.inner_spearman, b.choice)
    np.testing.assert_array_equal(a.predict(features), b.predict(features))


def test_cross_validation_falls_back_in_small_folds():
    features, accuracy = synthetic(20)
    result = Predictor().cross_validate(features, accuracy, k=5)
    assert result.modes == ("fallback",) * 5  # 16 training rows per fold
    assert np.isfinite(result.predictions).all()


def test_predict_checks_state_and_columns():
    features, accuracy = synthetic(40)
    with pytest.raises(RuntimeError, match="not fitted"):
        Predictor().predict(features)
    model = Predictor().fit(features, accuracy)
    with pytest.raises(ValueError, match="lack the columns"):
        model.predict(features.without_proxies())


def test_evaluate_top_spearman_uses_the_true_top_tenth():
    true = np.arange(100, dtype=float)
    pred = true.copy()
    pred[90:] = pred[90:][::-1]  # the top 10 reversed among themselves
    result = evaluate(pred, true)
    assert result.n == 100 and result.top_spearman == pytest.approx(-1.0)
    assert result.spearman > 0.9 and result.precision_at_10 == 1.0


# --------------------------------------------------------------------------- never worse


def noise_around(signal: np.ndarray, seed: int = 0) -> tuple[Features, np.ndarray]:
    """Random NB201 cells whose label-free proxies synflow and nwot both *are* the accuracy
    (so the baseline ranks labelled cells perfectly) and whose other features are noise."""
    rng = np.random.default_rng(seed)
    n = signal.size
    ops = rng.integers(0, len(OPS), size=(n, len(EDGES)))
    archs = [NB201Arch(tuple(OPS[i] for i in row)).arch_str for row in ops]
    scores = {"synflow": signal, "nwot": signal * 2.0, "snip": rng.normal(0, 1.0, n)}
    return Features.build(scores, space="nb201", archs=archs), signal


def test_noise_features_leave_the_baseline_in_charge():
    features, accuracy = noise_around(np.random.default_rng(5).normal(80, 3, 100))
    model = Predictor().fit(features.take(range(60)), accuracy[:60])
    assert model.weight == 0.0 and model.mode == "fallback"
    assert model.inner_spearman[0.0] == pytest.approx(1.0)
    assert all(rho < 1.0 for w, rho in model.inner_spearman.items() if w > 0)
    assert "cross-validation" in model.fallback_reason and "synflow, nwot" in model.fallback_reason
    rest = features.take(range(60, 100))
    baseline = ensemble.log_rank({p: rest.select([p])[:, 0] for p in ("synflow", "nwot")})
    np.testing.assert_array_equal(model.predict(rest), stats.rankdata(baseline) / 40)


def test_informative_features_choose_the_model():
    features, accuracy = synthetic(160)
    rng = np.random.default_rng(2)
    noise = {p: rng.normal(0, 1, 160) for p in ("synflow", "nwot", "snip")}
    features = Features(
        np.column_stack([*noise.values(), features.without_proxies().values]),
        (*noise, *features.without_proxies().names),
        tuple(noise),
    )  # proxies are noise, accuracy follows the encoding
    model = Predictor().fit(features.take(range(120)), accuracy[:120])
    assert model.mode == "model" and model.weight >= 0.75 and model.fallback_reason is None
    assert model.inner_spearman[model.weight] > model.inner_spearman[0.0] + 0.3
    prediction = model.predict(features.take(range(120, 160)))
    assert stats.spearmanr(prediction, accuracy[120:]).statistic > 0.7


def test_choice_is_the_best_inner_blend_and_ties_go_to_the_baseline():
    features, accuracy = synthetic(80)
    model = Predictor().fit(features, accuracy)
    baseline = ensemble.log_rank({p: features.select([p])[:, 0] for p in ("synflow", "nwot")})
    assert model.inner_spearman[0.0] == pytest.approx(stats.spearmanr(baseline, accuracy)[0])
    assert set(model.inner_spearman) == set(predictor.WEIGHTS)
    best = max(model.inner_spearman.values())
    assert model.weight == min(w for w, rho in model.inner_spearman.items() if rho >= best - 1e-9)
    assert f"model weight {model.weight:g} chosen" in model.choice
    assert predictor._choose({0.0: 0.9, 0.5: 0.9, 1.0: float("nan")}) == 0.0
    assert predictor._choose({0.0: 0.8, 0.25: 0.85, 1.0: 0.85}) == 0.25


def test_blend_predictions_mix_the_two_rank_quantiles():
    features, accuracy = synthetic(80)
    blended = Predictor(weights=(0.5,)).fit(features.take(range(60)), accuracy[:60])
    alone = Predictor(weights=(1.0,)).fit(features.take(range(60)), accuracy[:60])
    assert blended.mode == alone.mode == "model" and blended.inner_spearman == {}
    rest = features.take(range(60, 80))
    baseline = ensemble.log_rank({p: rest.select([p])[:, 0] for p in ("synflow", "nwot")})
    expected = 0.5 * stats.rankdata(alone.predict(rest)) / 20 + 0.5 * stats.rankdata(baseline) / 20
    np.testing.assert_allclose(blended.predict(rest), expected)
    assert np.isfinite(alone.predict(features.take([70]))).all()  # a single candidate too


def test_default_baseline_is_the_recommended_ranker_when_scored(monkeypatch):
    features, accuracy = synthetic(30)
    assert predictor.baseline_proxies(("synflow", "nwot", "snip")) == ("synflow", "nwot")
    second = ensemble.SecondStage(("snip",))
    choice = ensemble.Recommendation(ensemble.Ranker(("nwot",), "log_rank", second), "nb201")
    monkeypatch.setattr(ensemble, "recommended", lambda space: choice)
    assert Predictor().fit(features, accuracy).fallback_proxies == ("nwot",)  # first stage
    # Without the encoding the space is unknown: every label-free column.
    assert Predictor().fit(features.without_encoding(), accuracy).fallback_proxies == (
        "synflow",
        "nwot",
    )
    missing = ensemble.Recommendation(ensemble.Ranker(("zico",)), chosen_on="nb201")
    monkeypatch.setattr(ensemble, "recommended", lambda space: missing)
    assert Predictor().fit(features, accuracy).fallback_proxies == ("synflow", "nwot")
    named = Predictor(baseline=("snip",)).fit(features, accuracy)
    assert named.fallback_proxies == ("snip",)


# --------------------------------------------------------------------------- storage


@pytest.mark.parametrize("n_labels", [10, 60])
def test_round_trip_gives_identical_predictions(n_labels):
    features, accuracy = synthetic(100)
    model = Predictor(min_labels=20).fit(features.take(range(n_labels)), accuracy[:n_labels])
    restored = Predictor.from_bytes(model.to_bytes())
    assert (restored.mode, restored.min_labels, restored.n_labels, restored.weight) == (
        model.mode,
        model.min_labels,
        n_labels,
        model.weight,
    )
    assert restored.inner_spearman == model.inner_spearman
    assert restored.fallback_proxies == model.fallback_proxies
    rest = features.take(range(n_labels, 100))
    np.testing.assert_array_equal(restored.predict(rest), model.predict(rest))


def test_predictors_stored_before_the_baseline_still_load():
    features, accuracy = synthetic(60)
    meta = {
        "format": "zero_cost.predictor/1",
        "min_labels": 20,
        "seed": 0,
        "feature_names": list(features.names),
        "proxy_names": list(features.proxies),
        "gbm_params": dict(predictor.GBM_PARAMS),
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x=features.values,
        y=accuracy,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    # the old rule, so that the mode stored with the predictor stays true: the model at
    # weight 1 from min_labels labels, the fallback of the label-free proxies below
    restored = Predictor.from_bytes(buffer.getvalue())
    label_free = predictor._fallback_proxies(features.proxies)
    old_rule = Predictor(weights=(1.0,), baseline=label_free).fit(features, accuracy)
    assert restored.mode == "model" and restored.weight == 1.0
    np.testing.assert_array_equal(restored.predict(features), old_rule.predict(features))
    few = features.take(np.arange(10))
    meta["min_labels"] = 20
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x=few.values,
        y=accuracy[:10],
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    fallback = Predictor.from_bytes(buffer.getvalue())
    assert fallback.mode == "fallback" and fallback.fallback_proxies == label_free


def test_from_bytes_rejects_foreign_data():
    with pytest.raises(ValueError, match="not a stored predictor"):
        Predictor.from_bytes(b"not an archive")
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"evil": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="not a stored predictor"):
        Predictor.from_bytes(buffer.getvalue())  # object arrays would need pickle


# --------------------------------------------------------------------------- real data


def test_cached_nb201_scores_cross_validate_well():
    """On the full score table of the benchmarks (when present), out-of-fold rho is high and
    not below the label-free baseline's on the same cells."""
    if not CACHED_SCORES.exists():
        pytest.skip(f"no score table at {CACHED_SCORES}; see benchmarks/reproduce_nb201.py")
    with open(CACHED_SCORES, newline="") as f:
        rows = list(csv.DictReader(f))
    classic = ("synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "fisher", "zico")
    proxies = [*classic, "params", "flops"]
    scores = {p: [float(row[p]) for row in rows] for p in proxies}
    features = Features.build(scores, space="nb201", archs=[row["arch_str"] for row in rows])
    accuracy = np.array([float(row["cifar10_test"]) for row in rows])
    baseline = ("synflow", "nwot", "jacob_cov", "params", "flops")
    result = Predictor(baseline=baseline).cross_validate(features, accuracy, k=5, seed=0)
    label_free = ensemble.log_rank({p: scores[p] for p in baseline})
    assert result.evaluation.spearman > 0.93
    assert result.evaluation.spearman >= evaluate(label_free, accuracy).spearman


def test_module_exports():
    assert set(predictor.__all__) <= set(dir(predictor))


def test_undefined_inner_rho_picks_the_smallest_allowed_weight():
    """Constant labels leave every inner-CV rho undefined: the smallest weight allowed is
    chosen (never a weight the caller did not allow)."""
    features, _ = synthetic(60)
    constant = np.full(len(features), 90.0)
    model = Predictor(weights=(0.5, 1.0)).fit(features, constant)
    assert model.weight == 0.5 and model.mode == "model"
