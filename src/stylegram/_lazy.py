"""Packages whose public names load on first use (PEP 562, in a module type).

``stylegram`` and ``stylegram.explore`` re-export names that sit on torch (0.7 s to import on two
cores); the CLI imports both packages (its own modules live in them) and prints its help and its
one-line errors without torch. A name is imported from its module when it is first looked up,
then kept in the package, so each comes here once; a submodule is imported when first looked up
as an attribute, as the eager imports had made most of them attributes.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Mapping


class LazyPackage(types.ModuleType):
    """A package's module type; ``_where`` ({name: module, relative to the package}) is set on a
    subclass per package (``make_lazy``). Methods here, not module-level functions, so that
    ``help(package)`` lists the API as the eager imports did, and nothing else."""

    _where: Mapping[str, str] = {}

    def __getattr__(self, name: str) -> object:
        # Called only for a name not set yet.
        where = type(self)._where.get(name)
        if where is None:
            # A submodule: the eager imports had loaded most of them (`import stylegram` then
            # `stylegram.losses.gram`, `stylegram.explore.HookedNet` worked); importing it binds it here.
            # Only a plain name can be a submodule: find_spec('pkg.a.b') imports pkg.a, and raised
            # ModuleNotFoundError, not AttributeError, for getattr(pkg, 'a.b', None) and hasattr.
            if name.startswith("_") or not name.isidentifier() \
                    or importlib.util.find_spec(f"{self.__name__}.{name}") is None:
                raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
            return importlib.import_module(f"{self.__name__}.{name}")
        value = getattr(importlib.import_module(where, self.__name__), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        # As with the eager imports: the API, the dunders and the submodules loaded so far.
        names = {*super().__dir__(), *getattr(self, "__all__", ())}
        return sorted(n for n in names if n != "TYPE_CHECKING" and not (n.startswith("_") and not n.startswith("__")))

    def __setattr__(self, name: str, value: object) -> None:
        # An API function named as its module (stylegram.transfer, stylegram.explore.reconstruct):
        # importing the module binds it to the package's attribute (the import system's setattr),
        # over the function, e.g. when the CLI imports stylegram.transfer for TransferConfig. The
        # eager imports bound the function after the module; here the function stays.
        if name in type(self)._where and isinstance(value, types.ModuleType) \
                and value.__name__ == f"{self.__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


def make_lazy(package: str, where: Mapping[str, str]) -> None:
    """Make the package ``package`` (already in sys.modules: call it from its __init__) load the
    names of ``where`` ({name: module, relative to the package, e.g. '.api' or '..nets'}) on first use."""
    module = sys.modules[package]
    module.__class__ = type("LazyPackage", (LazyPackage,), {"_where": dict(where), "__module__": __name__})
