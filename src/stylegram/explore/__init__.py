"""The explorer: what the units and layers of a ConvNet respond to (top patches per unit, Gram
views, activation grids, content/style reconstructions), for any feature net given its layer names."""
from .api import DEFAULT_LAYERS, explore_units, resolve_net
from .hooks import HookedNet
from .patches import crop_box, unit_box
from .render import choose_units, layer_sheet, unit_grid, write_report
from .scan import UnitScan, list_images, load_view, scan_units
from .topk import UnitTopK

__all__ = ["DEFAULT_LAYERS", "HookedNet", "UnitScan", "UnitTopK", "choose_units", "crop_box", "explore_units",
           "layer_sheet", "list_images", "load_view", "resolve_net", "scan_units", "unit_box", "unit_grid",
           "write_report"]
