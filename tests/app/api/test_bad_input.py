"""Bad input is never a 500, on SQLite and PostgreSQL alike: ids beyond the databases'
integer range, numbers sent as strings, accuracies outside their range, an .npz that expands
far beyond its size, and a database that was never migrated. Each request is one a user
sent and got a 500 (or a wrong acceptance) for."""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
HUGE = 2**70
BEYOND_INT64 = 2**63  # 9223372036854775808: SQLite raised OverflowError (a text/plain 500)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", f"/v1/architectures/{BEYOND_INT64}", None, "architecture_id"),
        ("GET", f"/v1/score-jobs/{BEYOND_INT64}", None, "job_id"),
        ("DELETE", f"/v1/score-jobs/{BEYOND_INT64}", None, "job_id"),
        ("GET", f"/v1/predictors/{BEYOND_INT64}", None, "predictor_id"),
        ("GET", f"/v1/data-profiles/{BEYOND_INT64}", None, "data_profile_id"),
        ("GET", "/v1/scores?offset=99999999999999999999", None, "offset"),
        ("GET", f"/v1/scores?architecture_id={HUGE}", None, "architecture_id[0]"),
        ("GET", f"/v1/accuracies?architecture_id={HUGE}", None, "architecture_id"),
        (
            "GET",
            f"/v1/correlations?dataset=cifar10&data_profile_id={HUGE}",
            None,
            "data_profile_id",
        ),
        ("GET", f"/v1/correlations?dataset=cifar10&init_seed={HUGE}", None, "init_seed"),
        ("GET", f"/?data_profile_id={HUGE}", None, "data_profile_id"),
        (
            "POST",
            "/v1/score-jobs",
            {"architectures": [HUGE], "proxies": ["params"]},
            "architectures[0]",
        ),
        ("POST", "/v1/rank", {"architectures": [HUGE], "proxies": ["params"]}, "architectures[0]"),
        (
            "POST",
            "/v1/accuracies",
            {"items": [{"architecture": HUGE, "dataset": "cifar10", "value": 90.0}]},
            "items[0].architecture",
        ),
        (
            "POST",
            "/v1/score-jobs",
            {
                "architectures": [1],
                "proxies": ["params"],
                "data": {"source": "uploaded", "data_profile_id": HUGE},
            },
            "data.data_profile_id",
        ),
        (
            "POST",
            "/v1/predictors",
            {"dataset": "cifar10", "data_profile_id": HUGE},
            "data_profile_id",
        ),
    ],
)
def test_ids_beyond_the_integer_range_are_422(
    migrated_url: str, serve: Serve, method: str, path: str, body: dict | None, field: str
) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        response = client.request(method, path, json=body)
        check_error(response, 422, "validation_error", field)


def test_numbers_sent_as_strings_are_422(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        (architecture,) = submit(client, nb201_items([CELL]))
        job = {
            "architectures": [architecture],
            "proxies": ["params"],
            "data": {"source": "synthetic", "batch_size": "8"},
        }
        check_error(client.post("/v1/score-jobs", json=job), 422, "validation_error")
        job = {"architectures": [architecture], "proxies": ["params"], "init_seed": "1"}
        check_error(client.post("/v1/score-jobs", json=job), 422, "validation_error", "init_seed")
        report = {"architecture": architecture, "dataset": "cifar10", "value": "90"}
        check_error(
            client.post("/v1/accuracies", json={"items": [report]}),
            422,
            "validation_error",
            "items[0].value",
        )
        # Numbers as numbers are accepted, an integer accuracy included.
        report["value"] = 90
        assert client.post("/v1/accuracies", json={"items": [report]}).status_code == 200


@pytest.mark.parametrize("value", [150.0, -5.0, 100.01])
def test_accuracies_outside_0_to_100_are_422(migrated_url: str, serve: Serve, value: float) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        (architecture,) = submit(client, nb201_items([CELL]))
        for metric in ("test_accuracy", "accuracy"):
            report = {"architecture": architecture, "dataset": "c", "metric": metric}
            report["value"] = value
            error = check_error(
                client.post("/v1/accuracies", json={"items": [report]}),
                422,
                "validation_error",
                "items[0].value",
            )
            assert "[0, 100]" in error["message"]
        # Other metrics (a loss) take any finite number.
        report = {"architecture": architecture, "dataset": "c", "metric": "loss", "value": value}
        assert client.post("/v1/accuracies", json={"items": [report]}).status_code == 200
        assert client.get("/v1/accuracies?dataset=c").json()["count"] == 1


def _zeros_npz(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    x = np.zeros((megabytes * 1024 * 1024 // 3072, 32, 32, 3), dtype=np.uint8)
    np.savez_compressed(buffer, x_train=x, y_train=np.zeros(len(x), dtype=np.int64))
    return buffer.getvalue()


def test_an_npz_that_expands_past_the_limits_is_413(migrated_url: str, serve: Serve) -> None:
    """A few kilobytes of compressed zeros that expand to megabytes: refused from the zip
    headers, before anything is loaded, naming the limit."""
    blob = _zeros_npz(8)
    assert len(blob) < 64 * 1024
    limits = {"max_upload_array_bytes": 4 * 1024 * 1024, "max_upload_expanded_bytes": 6 << 20}
    with serve(migrated_url, embedded_worker=False, **limits) as client:
        error = check_error(
            client.post("/v1/data-profiles", files={"file": ("z.npz", blob)}),
            413,
            "upload_too_large",
            "file",
        )
        assert "ZC_MAX_UPLOAD_ARRAY_BYTES" in error["message"] and "x_train" in error["message"]
        small = _zeros_npz(3)  # each array under 4 MiB, together under 6 MiB: accepted
        response = client.post("/v1/data-profiles", files={"file": ("s.npz", small)})
        assert response.status_code == 201, response.text
    limits = {"max_upload_array_bytes": 4 * 1024 * 1024, "max_upload_expanded_bytes": 2 << 20}
    with serve(migrated_url, embedded_worker=False, **limits) as client:
        error = check_error(
            client.post("/v1/data-profiles", files={"file": ("s.npz", small)}),
            413,
            "upload_too_large",
            "file",
        )
        assert "ZC_MAX_UPLOAD_EXPANDED_BYTES" in error["message"]


def test_an_npz_of_an_unreadable_zip_version_is_422(migrated_url: str, serve: Serve) -> None:
    """A zip whose central directory asks for a newer zip version: zipfile raises
    NotImplementedError, which was a 500."""
    blob = bytearray(_zeros_npz(1))
    central = blob.index(b"PK\x01\x02")
    blob[central + 6 : central + 8] = (176).to_bytes(2, "little")  # "version 17.6 needed"
    with serve(migrated_url, embedded_worker=False) as client:
        response = client.post("/v1/data-profiles", files={"file": ("v.npz", bytes(blob))})
        check_error(response, 422, "invalid_upload", "file")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/architectures", {"items": nb201_items([CELL])}),
        ("GET", "/v1/architectures/1", None),
        ("GET", "/v1/scores", None),
        ("POST", "/v1/score-jobs", {"architectures": [1], "proxies": ["params"]}),
        ("GET", "/v1/correlations?dataset=cifar10", None),
    ],
)
def test_a_database_never_migrated_answers_503_naming_the_fix(
    database_url: str, serve: Serve, method: str, path: str, body: dict | None
) -> None:
    with serve(database_url, embedded_worker=False) as client:
        response = client.request(method, path, json=body)
        error = check_error(response, 503, "database_not_migrated")
        assert "zero-cost db upgrade" in error["message"]


def test_synthetic_jobs_still_accept_integer_settings(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        (architecture,) = submit(client, nb201_items([CELL]))
        job = {"architectures": [architecture], "proxies": ["params"], "data": SYNTHETIC}
        assert client.post("/v1/score-jobs", json=job).status_code == 202
