"""Architectures: checked against their search space, stored once, read back by id."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import asdict

from zero_cost import spaces

from ..config import Settings
from ..db.records import ArchitectureRecord, NewArchitecture
from ..db.storage import Storage
from ..errors import InvalidRequest, TooLarge
from ..schemas import (
    ArchitectureIn,
    ArchitectureOut,
)


def _space(name: str, settings: dict[str, int], field: str) -> tuple[spaces.SearchSpace, str]:
    """The configured space and the canonical JSON of its full settings (defaults filled)."""
    try:
        space = spaces.get(name, **settings)
    except KeyError as error:
        raise InvalidRequest("unknown_space", str(error.args[0]), f"{field}.space") from None
    except spaces.SpecError as error:
        raise InvalidRequest("invalid_settings", str(error), f"{field}.settings") from None
    parameters = inspect.signature(type(space).__init__).parameters.values()
    full = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY} | settings
    return space, json.dumps(full, sort_keys=True, separators=(",", ":"))


def _new_architecture(item: ArchitectureIn, field: str) -> NewArchitecture:
    space, settings = _space(item.space, item.settings, field)
    try:
        arch = space.parse(item.spec)
        params, flops = space.param_count(arch), space.flops(arch)
    except spaces.SpecError as error:
        raise InvalidRequest("invalid_spec", f"{field}.spec: {error}", f"{field}.spec") from None
    return NewArchitecture(
        space=item.space,
        settings=settings,
        identity_key=space.identity_key(arch),
        canonical_key=space.canonical_key(arch),
        spec=json.dumps(space.to_spec(arch), separators=(",", ":")),
        is_degenerate=bool(arch.is_degenerate),
        params=params,
        flops=flops,
    )


def architecture_out(record: ArchitectureRecord, created: bool | None = None) -> ArchitectureOut:
    return ArchitectureOut(
        id=record.id,
        space=record.space,
        settings=json.loads(record.settings),
        canonical_key=record.canonical_key,
        is_degenerate=record.is_degenerate,
        params=record.params,
        flops=record.flops,
        spec=json.loads(record.spec),
        created=created,
    )


def check_batch_size(count: int, settings: Settings, field: str) -> None:
    if count > settings.max_batch_items:
        raise TooLarge(
            "batch_too_large",
            f"{field}: {count} items; at most {settings.max_batch_items} per request",
            field,
        )


def register_architectures(
    storage: Storage, settings: Settings, items: Sequence[ArchitectureIn], field: str = "items"
) -> list[ArchitectureOut]:
    """Validate and store architectures; each result says whether it was new."""
    check_batch_size(len(items), settings, field)
    new = [_new_architecture(item, f"{field}[{i}]") for i, item in enumerate(items)]
    results = storage.add_architectures(new)
    return [
        architecture_out(ArchitectureRecord(architecture_id, **asdict(n)), created)
        for n, (architecture_id, created) in zip(new, results, strict=True)
    ]


def resolve_architectures(
    storage: Storage, settings: Settings, refs: Sequence[int | ArchitectureIn], field: str
) -> list[int]:
    """Architecture ids for references that are ids (must exist) or specs (stored if new)."""
    check_batch_size(len(refs), settings, field)
    specs = [(i, ref) for i, ref in enumerate(refs) if isinstance(ref, ArchitectureIn)]
    ids: list[int | None] = [ref if isinstance(ref, int) else None for ref in refs]
    if specs:
        new = [_new_architecture(ref, f"{field}[{i}]") for i, ref in specs]
        for (i, _), (architecture_id, _) in zip(specs, storage.add_architectures(new), strict=True):
            ids[i] = architecture_id
    given = [(i, ref) for i, ref in enumerate(refs) if isinstance(ref, int)]
    if given:
        found = storage.get_architectures(ref for _, ref in given)
        for i, ref in given:
            if ref not in found:
                raise InvalidRequest(
                    "unknown_architecture",
                    f"{field}[{i}]: no architecture {ref}",
                    f"{field}[{i}]",
                )
    return [int(i) for i in ids if i is not None]


def resolve_architecture(storage: Storage, ref: int | ArchitectureIn, field: str) -> int:
    """The id of one reference: an id (must exist) or a spec (stored if new)."""
    if isinstance(ref, ArchitectureIn):
        ((architecture_id, _),) = storage.add_architectures([_new_architecture(ref, field)])
        return architecture_id
    if ref not in storage.get_architectures([ref]):
        raise InvalidRequest("unknown_architecture", f"{field}: no architecture {ref}", field)
    return ref
