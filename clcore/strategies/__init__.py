"""Strategies, one per module: every module here registers its strategy by name in REGISTRY on import.
REGISTRY lists them by family (base.FAMILIES), then by name."""

import importlib
import pkgutil

from clcore.strategies.base import FAMILIES, REGISTRY, Batch, Param, Strategy, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
_listed = sorted(REGISTRY.values(), key=lambda cls: (FAMILIES.index(cls.family), cls.name))
REGISTRY.clear()
REGISTRY.update((cls.name, cls) for cls in _listed)

__all__ = ["FAMILIES", "REGISTRY", "Batch", "Param", "Strategy", "register"]
