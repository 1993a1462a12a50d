"""Reading architecture specs from .json, .jsonl, .csv and .onnx files, and sending them in
batches."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._common import CliError

SUBMIT_BATCH = 5_000
"""Items per request when storing architectures or accuracies."""


def read_specs(path: Path, space: str = "nb201") -> list[dict[str, Any]]:
    """Architecture specs ``{space, spec[, settings]}`` from a .json, .jsonl, .csv or .onnx
    file.

    .json: a list of specs or of ``{space, spec, settings}`` objects; .jsonl: one per line;
    .csv: a column ``arch_str`` or ``spec`` and optionally ``space``; .onnx: one model of
    the ``onnx`` space, whatever ``space`` says.
    """
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            entries = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise CliError(f"{path}: invalid JSON: {error}") from None
        if not isinstance(entries, list):
            raise CliError(f"{path}: expected a JSON list of specs")
        return [_item(e, space, f"{path}[{i}]") for i, e in enumerate(entries)]
    if suffix == ".jsonl":
        items = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise CliError(f"{path}:{number}: invalid JSON: {error}") from None
                items.append(_item(entry, space, f"{path}:{number}"))
        return items
    if suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return []
        column = "arch_str" if "arch_str" in rows[0] else "spec" if "spec" in rows[0] else None
        if column is None:
            raise CliError(f"{path}: needs a column 'arch_str' or 'spec'")
        return [
            {"space": (row.get("space") or space).strip(), "spec": _spec_value(row[column])}
            for row in rows
        ]
    if suffix == ".onnx":
        return [{"space": "onnx", "spec": {"onnx": base64.b64encode(path.read_bytes()).decode()}}]
    raise CliError(f"{path}: unsupported file type {suffix!r}; use .json, .jsonl, .csv or .onnx")


def _item(entry: Any, space: str, where: str) -> dict[str, Any]:
    """A JSON entry as ``{space, spec[, settings]}``: a bare spec gets ``space``."""
    if isinstance(entry, dict) and "spec" in entry:
        unknown = set(entry) - {"space", "spec", "settings"}
        if unknown:
            raise CliError(f"{where}: unexpected keys {sorted(unknown)}")
        item = {"space": entry.get("space", space), "spec": entry["spec"]}
        if entry.get("settings"):
            item["settings"] = entry["settings"]
        return item
    return {"space": space, "spec": entry}


def _spec_value(text: str) -> Any:
    """A CSV cell: JSON when it looks like a list or object (NASLib tuples), else the string."""
    text = text.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def batches(items: Sequence[Any], size: int = SUBMIT_BATCH) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
