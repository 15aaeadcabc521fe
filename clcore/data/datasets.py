"""Image data sets as whole tensors: the bundled MNIST and torchvision-downloaded ones.

A loaded data set lives entirely on the training device; batches are index slices of it. Loads are
cached per (name, device), so concurrent runs in one process (the app) share one copy.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clcore.errors import DataUnavailable

ASSETS = Path(__file__).resolve().parents[2] / "assets"
BUNDLED_MNIST = ASSETS / "mnist.npz"
DATA_DIR_ENV = "CLCORE_DATA"


def default_data_dir() -> Path:
    """Where downloaded data sets are cached; the CLCORE_DATA environment variable overrides it."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".cache" / "clcore")


@dataclass(frozen=True)
class ImageDataset:
    name: str
    x_train: torch.Tensor  # float32 (N, C, H, W), normalised as the literature does for this set
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, already subtracted; kept to turn samples back into images
    std: tuple[float, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])


def _to_tensors(x_train, y_train, x_test, y_test, mean, std, device):
    """uint8 NHWC/NHW arrays -> normalised float NCHW tensors on `device`."""

    def images(x):
        x = torch.as_tensor(np.asarray(x))
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
        x = x.to(device=device, dtype=torch.float32).div_(255.0)
        m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=device).view(1, -1, 1, 1)
        return x.sub_(m).div_(s).contiguous()

    def labels(y):
        return torch.as_tensor(np.asarray(y), dtype=torch.int64, device=device)

    return images(x_train), labels(y_train), images(x_test), labels(y_test)


def _load_bundled_mnist(device, data_dir):
    with np.load(BUNDLED_MNIST) as d:
        arrays = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    # MNIST is used in [0, 1] without standardisation, as in the S-MNIST / P-MNIST literature.
    return ImageDataset(
        "mnist", *_to_tensors(*arrays, (0.0,), (1.0,), device), tuple(str(i) for i in range(10)), (0.0,), (1.0,)
    )


def _load_mnist360(device, data_dir):
    """MNIST-360 (clcore.data.stream): MNIST's training tensors shared, not copied (the stream rotates each batch
    as it is drawn), and the rotated test images of the digits 0-8."""
    from clcore.data.stream import MNIST360_CLASSES, mnist360_test

    mnist = load_dataset("mnist", device, data_dir)
    x_test, y_test = mnist360_test(mnist.x_test, mnist.y_test)
    return dataclasses.replace(
        mnist, name="mnist-360", x_test=x_test, y_test=y_test, class_names=mnist.class_names[:MNIST360_CLASSES]
    )


def _torchvision_dataset(cls_name: str, display: str, root: Path, what_to_place: str):
    """Read (downloading when absent) a torchvision data set, or raise DataUnavailable."""
    from clcore.data.tv_compat import import_torchvision

    datasets = import_torchvision().datasets
    cls = getattr(datasets, cls_name)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
    except Exception as error:  # network errors, corrupt archives: all mean "not usable here"
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(error).__name__  # torchvision puts the cause last
        raise DataUnavailable(
            f"{display} is not in {root} and could not be downloaded ({reason}); connect to the "
            f"internet once, or place {what_to_place} in {root} (set {DATA_DIR_ENV} to use another folder)"
        ) from None


def _load_fashion_mnist(device, data_dir):
    train, test = _torchvision_dataset(
        "FashionMNIST", "Fashion-MNIST", data_dir, "the uncompressed IDX files under FashionMNIST/raw/"
    )
    arrays = train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()
    return ImageDataset(
        "fashion-mnist", *_to_tensors(*arrays, (0.0,), (1.0,), device), tuple(train.classes), (0.0,), (1.0,)
    )


def _load_cifar(cls_name, display, folder, mean, std):
    def load(device, data_dir):
        train, test = _torchvision_dataset(cls_name, display, data_dir, f"the extracted {folder}/ folder")
        arrays = train.data, train.targets, test.data, test.targets
        return ImageDataset(display.lower(), *_to_tensors(*arrays, mean, std, device), tuple(train.classes), mean, std)

    return load


# Per-channel statistics used by the S-CIFAR literature (mammoth's seq-cifar10 / seq-cifar100).
_LOADERS = {
    "mnist": _load_bundled_mnist,
    "mnist-360": _load_mnist360,
    "fashion-mnist": _load_fashion_mnist,
    "cifar10": _load_cifar(
        "CIFAR10", "CIFAR-10", "cifar-10-batches-py", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615)
    ),
    "cifar100": _load_cifar(
        "CIFAR100", "CIFAR-100", "cifar-100-python", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    ),
}
DATASET_NAMES = tuple(_LOADERS)

_cache: dict[tuple[str, str, str], ImageDataset] = {}
_cache_lock = threading.RLock()  # reentrant: MNIST-360's loader loads MNIST


def load_dataset(name: str, device: torch.device | str = "cpu", data_dir: Path | str | None = None) -> ImageDataset:
    """Load `name` onto `device`, once per process."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    key = (name, str(torch.device(device)), str(data_dir))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _LOADERS[name](torch.device(device), data_dir)
        return _cache[key]


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
