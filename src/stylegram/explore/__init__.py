"""The explorer: what the units and layers of a ConvNet respond to (top patches per unit, Gram
views, activation grids, content/style reconstructions), for any feature net given its layer names."""
from typing import TYPE_CHECKING

from .._lazy import make_lazy as _make_lazy

# Loaded on first use (see stylegram._lazy): the CLI's `explore` group lives in this package
# (explore/cli.py), and `stylegram --help` should not wait for torch.
_make_lazy(__name__, {
    "activation_grid": ".activations", "activation_maps": ".activations",
    "DEFAULT_LAYERS": ".api", "explore_activations": ".api", "explore_gram": ".api", "explore_reconstruct": ".api",
    "explore_units": ".api", "resolve_net": ".api",
    "LayerGram": ".gram", "gram_figures": ".gram", "gram_view": ".gram", "heatmap": ".gram",
    "Reconstruction": ".reconstruct", "reconstruct": ".reconstruct", "reconstruction_figure": ".reconstruct",
    "reconstructions": ".reconstruct",
    "HookedNet": "..nets.hooked",
    "crop_box": ".patches", "unit_box": ".patches",
    "choose_units": ".render", "layer_sheet": ".render", "unit_grid": ".render", "write_report": ".render",
    "UnitScan": ".scan", "list_images": ".scan", "load_view": ".scan", "scan_units": ".scan",
    "UnitTopK": ".topk",
})

if TYPE_CHECKING:
    from ..nets.hooked import HookedNet
    from .activations import activation_grid, activation_maps
    from .api import DEFAULT_LAYERS, explore_activations, explore_gram, explore_reconstruct, explore_units, resolve_net
    from .gram import LayerGram, gram_figures, gram_view, heatmap
    from .patches import crop_box, unit_box
    from .reconstruct import Reconstruction, reconstruct, reconstruction_figure, reconstructions
    from .render import choose_units, layer_sheet, unit_grid, write_report
    from .scan import UnitScan, list_images, load_view, scan_units
    from .topk import UnitTopK

__all__ = ["DEFAULT_LAYERS", "HookedNet", "LayerGram", "Reconstruction", "UnitScan", "UnitTopK", "activation_grid",
           "activation_maps", "choose_units", "crop_box", "explore_activations", "explore_gram",
           "explore_reconstruct", "explore_units", "gram_figures", "gram_view", "heatmap", "layer_sheet", "list_images",
           "load_view", "reconstruct", "reconstruction_figure", "reconstructions", "resolve_net", "scan_units",
           "unit_box", "unit_grid", "write_report"]
