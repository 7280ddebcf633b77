"""stylegram: neural style transfer (Gatys et al.) and a look inside ConvNets, in 1D, 2D and 3D.

The public API. Importing it does no work: no net is built and nothing is downloaded until asked.
"""
__version__ = "0.1.0"

import sys as _sys
import types as _types
from typing import TYPE_CHECKING

# The API's names load on first use (``_Package.__getattr__`` below: PEP 562, in a module type),
# each from the module that defines it. They sit on torch (0.7 s to import on two cores), and the
# CLI, which imports this package, prints its help and its one-line errors without them. Type
# checkers read the imports under TYPE_CHECKING.
_WHERE = {
    "ConfigError": "errors", "InputError": "errors", "NumericalError": "errors", "ResourceError": "errors",
    "StylegramError": "errors", "WeightsError": "errors",
    "load_image": "io", "save_image": "io",
    "content_loss": "losses", "gram": "losses", "style_layer_loss": "losses", "tv_loss": "losses",
    "FeatureNet": "nets", "HookedNet": "nets", "build_net": "nets", "list_nets": "nets",
    "TransferConfig": "transfer", "TransferResult": "transfer", "transfer": "transfer",
    "texture": "texture",
    "Iterate": "types", "LayerInfo": "types",
    "explore_units": "explore.api",
}

if TYPE_CHECKING:
    from .errors import ConfigError, InputError, NumericalError, ResourceError, StylegramError, WeightsError
    from .explore.api import explore_units
    from .io import load_image, save_image
    from .losses import content_loss, gram, style_layer_loss, tv_loss
    from .nets import FeatureNet, HookedNet, build_net, list_nets
    from .texture import texture
    from .transfer import TransferConfig, TransferResult, transfer
    from .types import Iterate, LayerInfo

__all__ = [
    "ConfigError", "FeatureNet", "HookedNet", "InputError", "Iterate", "LayerInfo", "NumericalError", "ResourceError",
    "StylegramError", "TransferConfig", "TransferResult", "WeightsError", "__version__", "build_net",
    "content_loss", "explore_units", "gram", "list_nets", "load_image", "save_image", "style_layer_loss", "texture",
    "transfer", "tv_loss",
]


class _Package(_types.ModuleType):
    """This package's module type: it loads the API's names on first use, and keeps
    ``stylegram.transfer`` and ``stylegram.texture`` the API's functions, which are named as their
    modules are. (Methods here, not module-level functions, so that ``help(stylegram)`` lists the
    API as before and nothing else.)"""

    def __getattr__(self, name: str) -> object:
        # Called for a name not set yet; the value is kept, so a name comes here once.
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib
        value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        # As with the eager imports: the API, the dunders and the submodules loaded so far.
        names = {*super().__dir__(), *__all__}
        return sorted(n for n in names if n != "TYPE_CHECKING" and not (n.startswith("_") and not n.startswith("__")))

    def __setattr__(self, name: str, value: object) -> None:
        # Importing the module stylegram.transfer (the CLI does, for TransferConfig) binds it to the
        # package's attribute ``transfer`` (the import system's setattr), over the function; the
        # eager imports used to bind the function after it. Here the function stays.
        if name in ("transfer", "texture") and isinstance(value, _types.ModuleType) \
                and value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
