"""stylegram: neural style transfer (Gatys et al.) and a look inside ConvNets, in 1D, 2D and 3D.

The public API. Importing it does no work: no net is built and nothing is downloaded until asked.
"""
__version__ = "0.1.0"

from typing import TYPE_CHECKING

from ._lazy import make_lazy as _make_lazy

# The API's names load on first use (see _lazy), each from the module that defines it: they sit on
# torch, and the CLI, which imports this package, prints its help and its one-line errors without
# it. Type checkers read the imports under TYPE_CHECKING.
_make_lazy(__name__, {
    "ConfigError": ".errors", "InputError": ".errors", "NumericalError": ".errors", "ResourceError": ".errors",
    "StylegramError": ".errors", "WeightsError": ".errors",
    "load_image": ".io", "save_image": ".io",
    "content_loss": ".losses", "gram": ".losses", "style_layer_loss": ".losses", "tv_loss": ".losses",
    "FeatureNet": ".nets", "HookedNet": ".nets", "build_net": ".nets", "list_nets": ".nets",
    "TransferConfig": ".config", "TransferResult": ".transfer", "transfer": ".transfer",
    "texture": ".texture",
    "Iterate": ".types", "LayerInfo": ".types",
    "explore_units": ".explore.api",
})

if TYPE_CHECKING:
    from .errors import ConfigError, InputError, NumericalError, ResourceError, StylegramError, WeightsError
    from .explore.api import explore_units
    from .io import load_image, save_image
    from .losses import content_loss, gram, style_layer_loss, tv_loss
    from .nets import FeatureNet, HookedNet, build_net, list_nets
    from .texture import texture
    from .config import TransferConfig
    from .transfer import TransferResult, transfer
    from .types import Iterate, LayerInfo

__all__ = [
    "ConfigError", "FeatureNet", "HookedNet", "InputError", "Iterate", "LayerInfo", "NumericalError", "ResourceError",
    "StylegramError", "TransferConfig", "TransferResult", "WeightsError", "__version__", "build_net",
    "content_loss", "explore_units", "gram", "list_nets", "load_image", "save_image", "style_layer_loss", "texture",
    "transfer", "tv_loss",
]
