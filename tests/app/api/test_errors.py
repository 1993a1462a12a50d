"""Every error path of the API, on SQLite and on PostgreSQL: each answer is the JSON error
``{"code", "message", "field"?}`` with the status and the code a client can act on."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from api_support import (
    SYNTHETIC,
    TINY,
    Serve,
    check_error,
    nb201_items,
    submit,
    wait_job,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
OTHER = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|"


# -- validation ------------------------------------------------------------------------------


def test_invalid_spec_names_the_item(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        body = {"items": nb201_items([CELL, "|bogus~0|+|none~0|"])}
        error = check_error(
            client.post("/v1/architectures", json=body), 422, "invalid_spec", "items[1].spec"
        )
        assert "items[1].spec" in error["message"]
        # a spec in a job names its place in `architectures`
        job = {"architectures": [1, {"space": "nb201", "spec": "|x|"}], "proxies": ["params"]}
        submit(client, nb201_items([CELL]))
        check_error(
            client.post("/v1/score-jobs", json=job), 422, "invalid_spec", "architectures[1].spec"
        )
        # nothing of a refused batch is stored
        assert client.get("/v1/architectures/2").status_code == 404


def test_unknown_space_and_bad_settings(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        body = {"items": [{"space": "nb999", "spec": CELL}]}
        error = check_error(
            client.post("/v1/architectures", json=body), 422, "unknown_space", "items[0].space"
        )
        assert "nb201" in error["message"]  # lists the known spaces
        body = {"items": [{"space": "nb201", "spec": CELL, "settings": {"chanels": 4}}]}
        check_error(
            client.post("/v1/architectures", json=body),
            422,
            "invalid_settings",
            "items[0].settings",
        )


def test_schema_errors_name_the_field_of_the_branch_meant(migrated_url: str, serve: Serve) -> None:
    """A batch and a single spec share the endpoint: errors locate the field in the one the
    body is, and no union branch name leaks into the field."""
    with serve(migrated_url, embedded_worker=False) as client:
        bad_setting = nb201_items([CELL, OTHER])
        bad_setting[1]["settings"] = {"channels": "wide"}
        body = check_error(
            client.post("/v1/architectures", json={"items": bad_setting}),
            422,
            "validation_error",
            "items[1].settings.channels",
        )
        assert [e["field"] for e in body["errors"]] == ["items[1].settings.channels"]
        check_error(
            client.post("/v1/architectures", json={"space": "nb201"}),
            422,
            "validation_error",
            "spec",
        )
        check_error(
            client.post("/v1/architectures", json={"items": [{**nb201_items([CELL])[0], "x": 1}]}),
            422,
            "validation_error",
            "items[0].x",
        )
        check_error(client.post("/v1/architectures", json=[1]), 422, "validation_error", "body")
        job = {"architectures": [0], "proxies": ["params"]}
        check_error(
            client.post("/v1/score-jobs", json=job), 422, "validation_error", "architectures[0]"
        )
        report = {"architecture": 1, "dataset": "cifar10", "value": "nan"}
        check_error(
            client.post("/v1/accuracies", json={"items": [report]}),
            422,
            "validation_error",
            "items[0].value",
        )
        check_error(client.get("/v1/score-jobs/x"), 422, "validation_error", "job_id")


def test_unknown_proxy_names_its_index(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        ids = submit(client, nb201_items([CELL]))
        for proxies, field in (
            (["synflow", "bogus"], "proxies[1]"),
            (["snip", "snip", "bogus"], "proxies[2]"),  # the request's index, repeats counted
        ):
            job = {"architectures": ids, "proxies": proxies}
            body = check_error(client.post("/v1/score-jobs", json=job), 422, "unknown_proxy", field)
            assert "synflow" in body["message"]  # lists the known proxies
            rank = {"architectures": ids, "proxies": proxies}
            check_error(client.post("/v1/rank", json=rank), 422, "unknown_proxy", field)


def test_unknown_ids_are_not_found(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        for method, path in (
            ("GET", "/v1/score-jobs/999"),
            ("DELETE", "/v1/score-jobs/999"),
            ("GET", "/v1/architectures/999"),
            ("GET", "/v1/data-profiles/999"),
            ("GET", "/v1/nothing-here"),
        ):
            body = check_error(client.request(method, path), 404, "not_found")
            assert "999" in body["message"] or "nothing-here" in path
        check_error(
            client.get("/v1/correlations", params={"dataset": "cifar10", "data_profile_id": 999}),
            404,
            "not_found",
        )
        # ids inside a request body are fields of the request: 422, naming the field
        job = {"architectures": [999], "proxies": ["params"]}
        check_error(
            client.post("/v1/score-jobs", json=job),
            422,
            "unknown_architecture",
            "architectures[0]",
        )
        job = {
            "architectures": nb201_items([CELL]),
            "proxies": ["params"],
            "data": {"source": "uploaded", "data_profile_id": 999},
        }
        check_error(
            client.post("/v1/score-jobs", json=job), 422, "unknown_profile", "data.data_profile_id"
        )


def test_correlation_requests_that_cannot_be_answered(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        check_error(client.get("/v1/correlations"), 422, "validation_error", "dataset")
        # no scores at all: which profile is meant cannot be guessed
        check_error(
            client.get("/v1/correlations", params={"dataset": "cifar10"}),
            422,
            "profile_required",
            "data_profile_id",
        )
        job = {"architectures": nb201_items([CELL]), "proxies": ["params"], "data": SYNTHETIC}
        profile = client.post("/v1/score-jobs", json=job).json()["data_profile_id"]
        params = {"dataset": "cifar10", "data_profile_id": profile}
        check_error(
            client.get("/v1/correlations", params={**params, "proxies": "params,bogus"}),
            422,
            "unknown_proxy",
            "proxies[1]",
        )
        check_error(
            client.get("/v1/correlations", params={**params, "ensembles": "vote,best"}),
            422,
            "unknown_ensemble",
            "ensembles[1]",
        )


# -- sizes -----------------------------------------------------------------------------------


def test_batches_over_the_configured_limit(migrated_url: str, serve: Serve, cells) -> None:
    six = nb201_items(cells(6))
    with serve(migrated_url, embedded_worker=False, max_batch_items=5) as client:
        check_error(
            client.post("/v1/architectures", json={"items": six}), 413, "batch_too_large", "items"
        )
        ids = submit(client, six[:5])  # at the limit: accepted
        job = {"architectures": [*ids, six[5]], "proxies": ["params"]}
        check_error(
            client.post("/v1/score-jobs", json=job), 413, "batch_too_large", "architectures"
        )
        rank = {"architectures": [*ids, ids[0]], "proxies": ["params"]}
        check_error(client.post("/v1/rank", json=rank), 413, "batch_too_large", "architectures")
        reports = [{"architecture": i, "dataset": "d", "value": 1.0} for i in [*ids, ids[0]]]
        check_error(
            client.post("/v1/accuracies", json={"items": reports}), 413, "batch_too_large", "items"
        )


def test_default_batch_limit_is_10000(migrated_url: str, serve: Serve) -> None:
    items = nb201_items(["|x|"] * 10_001)  # refused on its size, before any spec is read
    with serve(migrated_url, embedded_worker=False) as client:
        body = check_error(
            client.post("/v1/architectures", json={"items": items}), 413, "batch_too_large"
        )
        assert "10000" in body["message"]


def test_request_body_over_the_limit(migrated_url: str, serve: Serve) -> None:
    padding = b" " * 3000
    body = b'{"items": [' + padding + b"]}"

    def streamed() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"items": ['
        for start in range(0, len(padding), 500):
            yield padding[start : start + 500]
        yield b"]}"

    headers = {"content-type": "application/json"}
    with serve(migrated_url, embedded_worker=False, max_request_bytes=2048) as client:
        declared = client.post("/v1/architectures", content=body, headers=headers)
        check_error(declared, 413, "request_too_large")
        assert "ZC_MAX_REQUEST_BYTES" in declared.json()["message"]
        check_error(
            client.post("/v1/architectures", content=streamed(), headers=headers),
            413,
            "request_too_large",
        )
        upload = {"file": ("big.npz", b"\0" * 4096)}
        check_error(client.post("/v1/data-profiles", files=upload), 413, "request_too_large")
        # under the limit, declared or streamed, the request goes through
        small = b'{"items": [{"space": "nb201", "spec": "' + CELL.encode() + b'"}]}'
        assert client.post("/v1/architectures", content=small, headers=headers).status_code == 200
        assert (
            client.post("/v1/architectures", content=iter([small]), headers=headers).status_code
            == 200
        )


# -- API keys --------------------------------------------------------------------------------

KEYS = ["w1:write", "r1:read"]


def _write_requests(architecture_id: int) -> list[tuple[str, str, dict]]:
    arch = {"space": "nb201", "spec": CELL, "settings": TINY}
    return [
        ("POST", "/v1/architectures", {"json": {"items": [arch]}}),
        ("POST", "/v1/score-jobs", {"json": {"architectures": [arch], "proxies": ["params"]}}),
        (
            "POST",
            "/v1/accuracies",
            {"json": {"items": [{"architecture": architecture_id, "dataset": "d", "value": 1}]}},
        ),
        ("POST", "/v1/rank", {"json": {"architectures": [architecture_id], "proxies": ["params"]}}),
        (
            "POST",
            "/v1/data-profiles",
            {"files": {"file": ("d.npz", _npz_bytes())}, "data": {"batch_size": "8"}},
        ),
        ("DELETE", "/v1/score-jobs/1", {}),
    ]


def test_api_keys(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False, api_keys=KEYS) as client:
        write = {"X-API-Key": "w1"}
        ids = submit(client, nb201_items([CELL]), headers=write)
        job = client.post(
            "/v1/score-jobs", json={"architectures": ids, "proxies": ["params"]}, headers=write
        )
        assert job.status_code == 202, job.text
        requests = _write_requests(ids[0])
        for method, path, kwargs in requests:
            check_error(client.request(method, path, **kwargs), 401, "missing_api_key")
            for wrong in ({"X-API-Key": "w2"}, {"Authorization": "Bearer nope"}):
                answer = client.request(method, path, headers=wrong, **kwargs)
                check_error(answer, 401, "invalid_api_key")
            for read in ({"X-API-Key": "r1"}, {"Authorization": "Bearer r1"}):
                answer = client.request(method, path, headers=read, **kwargs)
                check_error(answer, 403, "read_only_key")
        # the write key may do all of it, with either header
        for i, (method, path, kwargs) in enumerate(requests):
            headers = write if i % 2 else {"Authorization": "Bearer w1"}
            answer = client.request(method, path, headers=headers, **kwargs)
            assert answer.status_code in {200, 201, 202}, (path, answer.text)

        reads = [
            "/v1/architectures/1",
            "/v1/score-jobs/1",
            "/v1/scores",
            "/v1/accuracies",
            "/v1/data-profiles/1",
        ]
        for path in reads:
            check_error(client.get(path), 401, "missing_api_key")
            check_error(client.get(path, headers={"X-API-Key": "x"}), 401, "invalid_api_key")
            for read in ({"X-API-Key": "r1"}, {"Authorization": "Bearer r1"}, write):
                answer = client.get(path, headers=read)
                assert answer.status_code == 200, (path, answer.text)
        correlations = client.get(
            "/v1/correlations", params={"dataset": "d"}, headers={"X-API-Key": "r1"}
        )
        assert correlations.status_code not in {401, 403}, correlations.text
        # probes and metrics stay open for the platform
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200, path


# -- limits on what is scored ----------------------------------------------------------------


def test_architectures_over_the_limits_fail_alone(
    migrated_url: str, serve: Serve, cells, wait_for
) -> None:
    small, large = cells(8)[:4], cells(8)[4:]
    items = nb201_items(small) + nb201_items(large, {"channels": 32, "cells_per_stage": 1})
    with serve(migrated_url, max_params=100_000) as client:
        answer = client.post("/v1/architectures", json={"items": items}).json()["items"]
        params = {a["id"]: a["params"] for a in answer}
        small_ids = [a["id"] for a in answer[:4]]
        large_ids = [a["id"] for a in answer[4:]]
        assert all(params[i] <= 100_000 for i in small_ids)
        assert all(params[i] > 100_000 for i in large_ids)
        job = client.post(
            "/v1/score-jobs",
            json={
                "architectures": small_ids + large_ids,
                "proxies": ["synflow"],
                "data": SYNTHETIC,
            },
        ).json()
        done = wait_job(client, job["id"], timeout=60)
        assert done["status"] == "succeeded", done  # failed only when every item fails
        assert done["counts"] == {"succeeded": 4, "failed": 4}
        errors = {e["architecture_id"]: e for e in done["errors"]}
        assert set(errors) == set(large_ids)
        for error in errors.values():
            assert error["status"] == "failed" and error["attempts"] == 1  # never retried
            assert "ZC_MAX_PARAMS" in error["error"] and "100,000" in error["error"]
        scores = client.get("/v1/scores").json()["data"]
        assert sorted(s["architecture_id"] for s in scores) == sorted(small_ids)

        only_large = client.post(
            "/v1/score-jobs",
            json={"architectures": large_ids[:1], "proxies": ["params"], "data": SYNTHETIC},
        ).json()
        assert wait_job(client, only_large["id"], timeout=60)["status"] == "failed"


def test_flops_limit(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, max_flops=1_000) as client:
        ids = submit(client, nb201_items([CELL]))
        job = client.post(
            "/v1/score-jobs", json={"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        ).json()
        done = wait_job(client, job["id"], timeout=60)
        assert done["status"] == "failed"
        assert "ZC_MAX_FLOPS" in done["errors"][0]["error"]


# -- the database ----------------------------------------------------------------------------


def _unreachable(database_url: str, tmp_path) -> str:
    """A URL of the same kind whose database cannot be reached."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/no/such/folder/zc.db"
    return make_url(database_url).set(port=1).render_as_string(hide_password=False)


def _check_unavailable(client) -> None:
    for method, path, kwargs in (
        ("POST", "/v1/architectures", {"json": {"items": nb201_items([CELL])}}),
        ("GET", "/v1/score-jobs/1", {}),
        ("GET", "/v1/scores", {}),
        ("POST", "/v1/rank", {"json": {"architectures": [1], "proxies": ["params"]}}),
        ("GET", "/metrics", {}),
    ):
        answer = client.request(method, path, **kwargs)
        check_error(answer, 503, "database_unavailable")
        assert int(answer.headers["retry-after"]) > 0, path
    ready = client.get("/readyz")
    assert ready.status_code == 503 and int(ready.headers["retry-after"]) > 0
    assert ready.json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200  # the process itself is fine


def test_database_unreachable(database_url: str, serve: Serve, tmp_path) -> None:
    with serve(_unreachable(database_url, tmp_path), embedded_worker=False) as client:
        _check_unavailable(client)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_lost_while_serving(migrated_url: str, serve: Serve) -> None:
    """The database goes away under a running service: 503s, not 500s. (PostgreSQL only:
    a SQLite file stays readable through the connections already open on it.)"""
    with serve(migrated_url, embedded_worker=False) as client:
        submit(client, nb201_items([CELL]))
        assert client.get("/readyz").status_code == 200
        url = make_url(migrated_url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        finally:
            admin.dispose()
        _check_unavailable(client)


# -- uploaded data profiles ------------------------------------------------------------------


def _npz_bytes(count: int = 24, **arrays: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    values = {
        "x_train": rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
        "y_train": np.arange(count, dtype=np.int64) % 10,
    }
    values.update(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **values)
    return buffer.getvalue()


def test_uploaded_profiles(migrated_url: str, serve: Serve) -> None:
    blob = _npz_bytes()
    with serve(migrated_url, max_upload_bytes=len(blob) + 100) as client:
        form = {"batch_size": "8", "seed": "3"}
        first = client.post("/v1/data-profiles", files={"file": ("a.npz", blob)}, data=form)
        assert first.status_code == 201, first.text
        profile = first.json()
        assert profile["source"] == "uploaded"
        assert profile["config"]["batch_size"] == 8 and profile["config"]["seed"] == 3
        # the same bytes and settings are the same profile, whatever the file is called
        again = client.post("/v1/data-profiles", files={"file": ("b.npz", blob)}, data=form)
        assert again.status_code == 201 and again.json()["id"] == profile["id"]
        other = client.post(
            "/v1/data-profiles", files={"file": ("a.npz", blob)}, data={"batch_size": "8"}
        )
        assert other.status_code == 201 and other.json()["id"] != profile["id"]
        assert client.get(f"/v1/data-profiles/{profile['id']}").json() == profile

        pickled = _npz_bytes(x_train=np.array([{"a": 1}] * 4, dtype=object))
        check_error(
            client.post("/v1/data-profiles", files={"file": ("p.npz", pickled)}),
            422,
            "invalid_upload",
            "file",
        )
        for bad in (b"not an archive", _npz_bytes(x_train=np.zeros((24, 3, 32), np.uint8))):
            check_error(
                client.post("/v1/data-profiles", files={"file": ("x.npz", bad)}),
                422,
                "invalid_upload",
            )
        check_error(
            client.post("/v1/data-profiles", files={"file": ("big.npz", blob + b"\0" * 101)}),
            413,
            "upload_too_large",
            "file",
        )
        check_error(
            client.post("/v1/data-profiles", files={"file": ("a.npz", blob)}, data={"batch": "8"}),
            422,
            "validation_error",
            "batch",
        )
        check_error(client.post("/v1/data-profiles", data=form), 422, "validation_error", "file")

        ids = submit(client, nb201_items([CELL, OTHER]))
        data = {"source": "uploaded", "data_profile_id": profile["id"]}
        job = client.post(
            "/v1/score-jobs", json={"architectures": ids, "proxies": ["synflow"], "data": data}
        )
        assert job.status_code == 202, job.text
        assert job.json()["data_profile_id"] == profile["id"]
        assert wait_job(client, job.json()["id"], timeout=60)["status"] == "succeeded"
        scores = client.get("/v1/scores", params={"data_profile_id": profile["id"]}).json()
        assert scores["count"] == 2
        assert all(s["status"] == "ok" and s["value"] is not None for s in scores["data"])

        # a profile id that is not an upload is not accepted as one
        synthetic = client.post(
            "/v1/score-jobs", json={"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        ).json()["data_profile_id"]
        data = {"source": "uploaded", "data_profile_id": synthetic}
        check_error(
            client.post(
                "/v1/score-jobs", json={"architectures": ids, "proxies": ["params"], "data": data}
            ),
            422,
            "unknown_profile",
        )


@pytest.mark.parametrize("file", ["../x.npz", "/etc/passwd", "a/../../x.npz", ".hidden.npz"])
def test_data_files_are_names_not_paths(migrated_url: str, serve: Serve, file: str) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        data = {"source": "npz", "file": file}
        job = {"architectures": nb201_items([CELL]), "proxies": ["params"], "data": data}
        body = check_error(client.post("/v1/score-jobs", json=job), 422, "validation_error")
        assert body["field"].startswith("data") and body["field"].endswith("file"), body
        rank = {"architectures": nb201_items([CELL]), "proxies": ["params"], "data": data}
        check_error(client.post("/v1/rank", json=rank), 422, "validation_error")
        # nothing was queued
        assert client.get("/v1/score-jobs/1").status_code == 404


def test_missing_data_file(migrated_url: str, serve: Serve, tmp_path) -> None:
    with serve(migrated_url, embedded_worker=False, data_dir=str(tmp_path)) as client:
        data = {"source": "npz", "file": "missing.npz"}
        job = {"architectures": nb201_items([CELL]), "proxies": ["params"], "data": data}
        body = check_error(client.post("/v1/score-jobs", json=job), 422, "data_unavailable", "data")
        assert "missing.npz" in body["message"]
    with serve(migrated_url, embedded_worker=False, data_dir=None) as client:
        check_error(client.post("/v1/score-jobs", json=job), 422, "data_unavailable", "data")
