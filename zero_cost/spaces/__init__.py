"""Search spaces: parse, validate, canonicalise and build architectures.

One way in::

    from zero_cost import spaces
    sp = spaces.get("nb201")
    arch = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|")
    model = sp.build(arch, num_classes=10, seed=0)

Each space lives in its own module and registers itself with ``register`` (the registry is
in ``_registry``); importing this package imports every space module.
"""

from . import darts, graph, nats_sss, nb101, nb201, onnx_model, transnas_macro, transnas_micro
from ._base import SearchSpace, SpecError
from ._registry import get, names, register

__all__ = [
    "SearchSpace",
    "SpecError",
    "get",
    "names",
    "register",
    # the built-in spaces
    "darts",
    "graph",
    "nats_sss",
    "nb101",
    "nb201",
    "onnx_model",
    "transnas_macro",
    "transnas_micro",
]
