"""What the pruning figures show: the per-layer kept fractions of chosen prune jobs, and
the smallest kept fraction of a layer against the compression achieved, over the succeeded
prune jobs of one architecture (the layer-collapse picture of Tanaka et al. 2020)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zero_cost import prune

from .. import plots
from ..db.records import PruneRecord
from ..db.statuses import PruneStatus
from ..db.storage import Storage
from ..errors import Conflict, InvalidRequest, NotFound
from ..fields import MAX_ID
from .data_profiles import profile_description

MAX_FIGURE_JOBS = 12
"""Prune jobs one per-layer figure draws at most (a line and a colour each)."""
MAX_COMPRESSION_JOBS = 1000
"""Succeeded prune jobs of an architecture the compression figure reads, the newest first."""


def job_id_list(text: str, field: str = "job_ids") -> list[int]:
    """The ids of a comma-separated list, in order, each once.

    Raises:
        InvalidRequest: an entry that is not an id, no id, or more than ``MAX_FIGURE_JOBS``.
    """
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= MAX_ID:
            message = f"{field}: {part!r} is not a prune job id (an integer from 1 to {MAX_ID})"
            raise InvalidRequest("invalid_id", message, field)
        ids.append(int(part))
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_FIGURE_JOBS:
        message = f"{field}: {len(ids)} jobs; one figure draws at most {MAX_FIGURE_JOBS}"
        raise InvalidRequest("too_many_ids", message, field)
    return ids


def _succeeded_job(storage: Storage, job_id: int) -> PruneRecord:
    record = storage.get_prune_job(job_id)
    if record is None:
        raise NotFound("prune job", job_id)
    if record.status != PruneStatus.SUCCEEDED or record.layers is None:
        raise Conflict(
            "job_not_succeeded",
            f"job_ids: prune job {job_id} is {record.status}: "
            "its layers are known once it succeeded",
            "job_ids",
        )
    return record


def _listed(word: str, values: Iterable[object]) -> str:
    """``word`` and the distinct values, e.g. "seed 0" or "seeds 0, 1"."""
    distinct = sorted(set(values))
    return f"{word}{'s' if len(distinct) > 1 else ''} {', '.join(map(str, distinct))}"


def _architectures_text(storage: Storage, ids: Iterable[int]) -> str:
    distinct = sorted(set(ids))
    if len(distinct) > 1:
        return _listed("architecture", (f"#{a}" for a in distinct))
    record = storage.get_architectures(distinct).get(distinct[0])
    return f"architecture #{distinct[0]}" + ("" if record is None else f" ({record.space})")


def _profiles_text(storage: Storage, ids: Iterable[int]) -> str:
    distinct = sorted(set(ids))
    if len(distinct) > 1:
        return _listed("data profile", (f"#{p}" for p in distinct))
    return f"data profile #{distinct[0]}: {profile_description(storage, distinct[0])}"


def _settings_text(method: str, scope: str, iterations: int) -> str:
    """The scope and rounds where they differ from the method's defaults, e.g. ", layerwise"."""
    text = "" if scope == "global" else f", {scope}"
    if iterations != prune.get(method).iterations:
        text += f", {iterations} round{'s' if iterations > 1 else ''}"
    return text


def _job_label(record: PruneRecord) -> str:
    """E.g. "synflow, compression 1000 (job 7)"."""
    config = record.config
    settings = _settings_text(config.method, config.scope, config.iterations)
    return f"{config.method}, {config.target_kind} {config.target:g}{settings} (job {record.id})"


def prune_layers_figure(storage: Storage, job_ids: Sequence[int], fmt: plots.Format) -> bytes:
    """The kept fraction of every layer, one line per prune job (``plots.prune_layers``).

    Raises:
        NotFound: a job does not exist.
        Conflict: a job has not succeeded (``job_not_succeeded``): its layers are unknown.
    """
    records = [_succeeded_job(storage, job_id) for job_id in job_ids]
    curves = [(_job_label(r), [x.kept / x.total for x in r.layers]) for r in records]
    names = [[x.name for x in r.layers] for r in records]
    configs = [r.config for r in records]
    architectures = _architectures_text(storage, (c.architecture_id for c in configs))
    profiles = _profiles_text(storage, (c.data_profile_id for c in configs))
    seeds = _listed("seed", (c.init_seed for c in configs))
    title = f"kept fraction per layer, {architectures}\n{profiles}; init {seeds}"
    common = names[0] if all(n == names[0] for n in names) else None
    return plots.prune_layers(curves, layer_names=common, title=title, fmt=fmt)


def prune_compression_figure(
    storage: Storage,
    architecture_id: int,
    profile_id: int | None,
    seed: int | None,
    fmt: plots.Format,
) -> bytes:
    """The smallest kept fraction of a layer against the compression achieved, over the
    architecture's succeeded prune jobs (on the profile and init seed when given), one line
    per method, scope and iterations (and profile and seed, where the jobs have several):
    ``plots.prune_compression``. A figure that says so when no job matches.

    Raises:
        NotFound: no such architecture or data profile.
    """
    if architecture_id not in storage.get_architectures([architecture_id]):
        raise NotFound("architecture", architecture_id)
    if profile_id is not None and storage.get_profile(profile_id, blob=False) is None:
        raise NotFound("data profile", profile_id)
    found, _ = storage.list_prune_jobs(
        status=PruneStatus.SUCCEEDED, architecture_id=architecture_id, limit=MAX_COMPRESSION_JOBS
    )
    records = [
        r
        for r in found
        if r.layers
        and (profile_id is None or r.config.data_profile_id == profile_id)
        and (seed is None or r.config.init_seed == seed)
    ]
    profiles = {r.config.data_profile_id for r in records}
    seeds = {r.config.init_seed for r in records}
    groups: dict[tuple[str, str, int, int, int], tuple[list[float], list[float]]] = {}
    for record in records:
        kept = sum(x.kept for x in record.layers)
        if kept == 0:  # nothing kept: no finite compression to draw it at
            continue
        config = record.config
        key = (
            config.method,
            config.scope,
            config.iterations,
            config.data_profile_id,
            config.init_seed,
        )
        compressions, smallest = groups.setdefault(key, ([], []))
        compressions.append(sum(x.total for x in record.layers) / kept)
        smallest.append(min(x.kept / x.total for x in record.layers))
    series = []
    for (method, scope, iterations, profile, init_seed), (x, y) in sorted(groups.items()):
        label = f"{method}{_settings_text(method, scope, iterations)}"
        label += f", profile #{profile}" if len(profiles) > 1 else ""
        label += f", seed {init_seed}" if len(seeds) > 1 else ""
        series.append((label, x, y))
    architecture = _architectures_text(storage, [architecture_id])
    shown_profiles = profiles if profile_id is None else {profile_id}
    shown_seeds = seeds if seed is None else {seed}
    where = [_profiles_text(storage, shown_profiles)] if shown_profiles else []
    where += [f"init {_listed('seed', shown_seeds)}"] if shown_seeds else []
    selection = "; ".join(where)
    title = f"smallest kept fraction of a layer, {architecture}\n{selection}".rstrip()
    empty = f"no succeeded prune jobs of {architecture}" + (f" ({selection})" if where else "")
    return plots.prune_compression(series, title=title, empty=empty, fmt=fmt)
