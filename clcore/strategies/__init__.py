"""Strategies, one per module, registered by name in REGISTRY on import (listing order follows)."""
from . import finetune, joint, er, der, derpp, clser, ewc, si, lwf  # noqa: F401,I001  (registration order)
from .base import REGISTRY, Batch, Param, Strategy, register

__all__ = ["REGISTRY", "Batch", "Param", "Strategy", "register"]
