"""``/``: the dashboard, server-rendered HTML that loads nothing from other hosts.

Queue and workers, recent jobs, and for a chosen dataset and data profile the correlation
table, the figures of /v1/plots and the top architectures by the log_rank ensemble. With API
keys configured it needs a read key: a browser is asked for one with HTTP Basic (the key as
the password, any user name) and then sends it with the page's images too.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ... import services
from ..deps import BASIC_CHALLENGE, SettingsDep, StorageDep, require_read
from ..errors import ApiError, http_status
from ..params import DataProfileIdDep, InitSeedDep

router = APIRouter(tags=["dashboard"])


def _fixed(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(values: list[float | None] | None) -> str:
    low, high = (list(values or []) + [None, None])[:2]
    return "" if low is None or high is None else f"[{_fixed(low)}, {_fixed(high)}]"


def _age(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _when(moment: datetime | None, form: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """A database time in UTC (SQLite hands back naive UTC times)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(form)


def _spec(spec: object) -> str:
    return spec if isinstance(spec, str) else json.dumps(spec, separators=(",", ":"))


_templates = Environment(
    loader=PackageLoader("app", "templates"), autoescape=select_autoescape(["html"])
)
_templates.filters.update(fixed=_fixed, interval=_interval, age=_age, spec=_spec, when=_when)


def _page(
    template: str, status: int, headers: dict | None = None, **values: object
) -> HTMLResponse:
    html = _templates.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=headers)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(
    request: Request,
    storage: StorageDep,
    settings: SettingsDep,
    dataset: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    metric: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    data_profile_id: DataProfileIdDep = None,
    name: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    scale: Literal["value", "rank"] = "value",
    init_seed: InitSeedDep = 0,
    bootstrap: Annotated[int, Query(ge=0, le=10_000)] = 1000,
) -> HTMLResponse:
    """The dashboard (the default dataset and profile: the most reported and most scored)."""
    try:
        require_read(request, settings)
    except ApiError as error:
        headers = BASIC_CHALLENGE if error.status == 401 else None
        return _page("denied.html", error.status, headers, message=error.message)
    view = services.dashboard(
        storage,
        settings,
        dataset=dataset,
        metric=metric,
        profile_id=data_profile_id,
        name=name,
        scale=scale,
        seed=init_seed,
        n_resamples=bootstrap,
    )
    root = request.scope.get("root_path", "")
    values = {f.name: getattr(view, f.name) for f in fields(view)}
    values["error"] = None if view.error is None else view.error.message
    status = 200 if view.error is None else http_status(view.error)
    if view.dataset is not None and view.profile_id is not None:
        common = {
            "dataset": view.dataset,
            "metric": view.metric,
            "data_profile_id": view.profile_id,
            "init_seed": init_seed,
        }
        values["plots"] = {
            "correlations": f"{root}/v1/plots/correlations?"
            + urlencode({**common, "bootstrap": bootstrap, "format": "svg"}),
            "precision": f"{root}/v1/plots/precision?" + urlencode({**common, "format": "svg"}),
        }
        if view.name is not None:
            values["plots"]["scatter"] = f"{root}/v1/plots/scatter?" + urlencode(
                {**common, "name": view.name, "scale": scale, "format": "svg"}
            )
        values["correlations_json"] = f"{root}/v1/correlations?" + urlencode(
            {**common, "bootstrap": bootstrap}
        )
    return _page("dashboard.html", status, root=root, bootstrap=bootstrap, **values)
