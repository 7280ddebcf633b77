"""stylegram: neural style transfer (Gatys et al.) and a look inside ConvNets, in 1D, 2D and 3D.

The public API. Importing it does no work: no net is built and nothing is downloaded until asked.
"""
__version__ = "0.1.0"

from .errors import ConfigError, InputError, NumericalError, ResourceError, StylegramError, WeightsError  # noqa: E402
from .io import load_image, save_image  # noqa: E402
from .losses import content_loss, gram, style_layer_loss, tv_loss  # noqa: E402
from .nets import FeatureNet, HookedNet, build_net, list_nets  # noqa: E402
from .transfer import TransferConfig, TransferResult, transfer  # noqa: E402
from .texture import texture  # noqa: E402
from .types import Iterate, LayerInfo  # noqa: E402
from .explore.api import explore_units  # noqa: E402

__all__ = [
    "ConfigError", "FeatureNet", "HookedNet", "InputError", "Iterate", "LayerInfo", "NumericalError", "ResourceError",
    "StylegramError", "TransferConfig", "TransferResult", "WeightsError", "__version__", "build_net",
    "content_loss", "explore_units", "gram", "list_nets", "load_image", "save_image", "style_layer_loss", "texture",
    "transfer", "tv_loss",
]
