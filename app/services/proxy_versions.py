"""The proxy versions a request names: resolved once, when the request arrives, and stored
with what it creates, so that everything downstream uses exactly these versions."""

from __future__ import annotations

from collections.abc import Sequence

from zero_cost import proxies as proxy_registry

from ..errors import InvalidRequest


def proxy_versions(names: Sequence[str], field: str = "proxies") -> list[tuple[str, str]]:
    """(name, version) of each requested proxy, in order, without repeats."""
    versions: dict[str, str] = {}
    for i, name in enumerate(names):  # i indexes the request's list, repeats included
        if name in versions:
            continue
        try:
            versions[name] = proxy_registry.get(name).version
        except KeyError as error:
            raise InvalidRequest("unknown_proxy", str(error.args[0]), f"{field}[{i}]") from None
    return list(versions.items())
