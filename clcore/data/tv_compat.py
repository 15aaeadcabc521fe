"""Import torchvision even where its compiled operators do not match the installed torch.

Why this exists: on a machine with a CPU-only torch beside a CUDA build of torchvision, torchvision's
C++ extension fails to load, and `import torchvision` then dies registering fake kernels for
`torchvision::nms` / `torchvision::qnms`, whose schemas only that extension defines. clcore uses
torchvision for its data set downloaders and readers alone, which need none of these operators, so
defining the two missing schemas (with no kernels) is enough. On a consistent install nothing is
defined: the schemas already exist.
"""

import importlib
import sys

import torch

# Schemas as torchvision's C++ extension declares them (torchvision/csrc/ops/nms.cpp, qnms).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the defining Library alive for the life of the process


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def import_torchvision():
    """Return the torchvision module, defining missing operator schemas first when (only when) needed."""
    global _library
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
    # Drop the half-imported package so the second import runs its __init__ from the start.
    for module in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[module]
    _library = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _SCHEMAS.items():
        if not _has_op(name):
            _library.define(schema)
    return importlib.import_module("torchvision")
