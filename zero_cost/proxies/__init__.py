"""Zero-cost proxies, one per module, registered by name.

Every proxy reports so that **higher = predicted better**. A proxy is a function of a
``Passes`` object (see ``zero_cost.passes``), which runs and shares the forward/backward
passes that the requested proxies need, so that snip, grad_norm, fisher and grasp share one
forward and one backward.

The registry lives in ``_registry``; importing this package imports every proxy module,
which registers its proxy there.
"""

from . import (
    az_expressivity,
    az_progressivity,
    az_trainability,
    epe_nas,
    fisher,
    flops,
    grad_norm,
    grasp,
    jacob_cov,
    l2_norm,
    linear_regions,
    meco,
    ntk_cond,
    nwot,
    params,
    plain,
    snip,
    swap,
    synflow,
    zen,
    zico,
)

# Re-exported for tests, which remove the test-only proxies they register from this dict.
from ._registry import _REGISTRY as _REGISTRY
from ._registry import MAIN_PASS_NEEDS, ProxyInfo, get, names, register

__all__ = [
    "MAIN_PASS_NEEDS",
    "ProxyInfo",
    "get",
    "names",
    "register",
    # the built-in proxies
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
    "epe_nas",
    "fisher",
    "flops",
    "grad_norm",
    "grasp",
    "jacob_cov",
    "l2_norm",
    "linear_regions",
    "meco",
    "ntk_cond",
    "nwot",
    "params",
    "plain",
    "snip",
    "swap",
    "synflow",
    "zen",
    "zico",
]
