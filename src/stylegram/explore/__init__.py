"""The explorer: what the units and layers of a ConvNet respond to (top patches per unit, Gram
views, activation grids, content/style reconstructions), for any feature net given its layer names."""
from .activations import activation_grid, activation_maps
from .api import DEFAULT_LAYERS, explore_activations, explore_gram, explore_reconstruct, explore_units, resolve_net
from .gram import LayerGram, gram_figures, gram_view, heatmap
from .reconstruct import Reconstruction, reconstruct, reconstruction_figure, reconstructions
from ..nets.hooked import HookedNet
from .patches import crop_box, unit_box
from .render import choose_units, layer_sheet, unit_grid, write_report
from .scan import UnitScan, list_images, load_view, scan_units
from .topk import UnitTopK

__all__ = ["DEFAULT_LAYERS", "HookedNet", "LayerGram", "Reconstruction", "UnitScan", "UnitTopK", "activation_grid",
           "activation_maps", "choose_units", "crop_box", "explore_activations", "explore_gram",
           "explore_reconstruct", "explore_units", "gram_figures", "gram_view", "heatmap", "layer_sheet", "list_images",
           "load_view", "reconstruct", "reconstruction_figure", "reconstructions", "resolve_net", "scan_units",
           "unit_box", "unit_grid", "write_report"]
