"""Feature nets: named layers, weights declared as data, receptive fields."""
from .features import FeatureNet, InputConvention
from .hooked import HookedNet
from .receptive import receptive_fields
from .registry import NetRegistry, NetSpec, build_net, default_registry, list_nets

__all__ = ["FeatureNet", "HookedNet", "InputConvention", "NetRegistry", "NetSpec", "build_net", "default_registry",
           "list_nets", "receptive_fields"]
