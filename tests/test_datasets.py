"""Data sets: the bundled MNIST, and the torchvision-read ones from small files written here in their
real on-disk formats (nothing is ever downloaded: name resolution is disabled in these tests)."""

import hashlib
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clcore import DataUnavailable, Run, make_config
from clcore.data import datasets
from clcore.data.benchmarks import build_benchmark, random_crop_flip
from clcore.data.tv_compat import import_torchvision

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


@pytest.fixture
def offline(monkeypatch):
    """No network: any attempt to resolve a host name fails at once (as on a machine without one),
    so a test can never download a real data set even where the network is up."""

    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)


@pytest.fixture
def data_dir(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("CLCORE_DATA", str(tmp_path))
    datasets.clear_cache()
    yield tmp_path
    datasets.clear_cache()


def _images(rng, n, shape):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _labels(n_per_class, n_classes, rng):
    labels = np.repeat(np.arange(n_classes), n_per_class)
    rng.shuffle(labels)
    return labels


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# writers for the real formats


def write_idx_images(path, images):
    n, rows, cols = images.shape
    header = np.array([2051, n, rows, cols], dtype=">i4").tobytes()  # big-endian magic and sizes
    Path(path).write_bytes(header + images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels):
    header = np.array([2049, len(labels)], dtype=">i4").tobytes()
    Path(path).write_bytes(header + np.asarray(labels, dtype=np.uint8).tobytes())


def make_fashion_mnist(root, rng, train_per_class=10, test_per_class=4):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        y = _labels(per_class, 10, rng)
        x = _images(rng, len(y), (28, 28))
        write_idx_images(raw / f"{split}-images-idx3-ubyte", x)
        write_idx_labels(raw / f"{split}-labels-idx1-ubyte", y)
        arrays[split] = (x, y)
    return arrays


def _cifar_rows(images_nchw):
    """CIFAR's layout: one uint8 row of 3072 per image, the R, G then B planes, each row-major 32x32."""
    return images_nchw.reshape(len(images_nchw), 3 * 32 * 32)


def _pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar10(root, rng, monkeypatch, per_class_per_batch=2, test_per_class=3):
    CIFAR10 = import_torchvision().datasets.CIFAR10  # (a plain torchvision import fails here)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_x, train_y = [], []
    for b in range(1, 6):
        y = _labels(per_class_per_batch, 10, rng)
        x = _images(rng, len(y), (3, 32, 32))
        _pickle(
            folder / f"data_batch_{b}",
            {
                "batch_label": f"training batch {b} of 5",
                "data": _cifar_rows(x),
                "labels": y.tolist(),
                "filenames": [f"{i}.png" for i in range(len(y))],
            },
        )
        train_x.append(x), train_y.append(y)
    y = _labels(test_per_class, 10, rng)
    x = _images(rng, len(y), (3, 32, 32))
    _pickle(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "data": _cifar_rows(x),
            "labels": y.tolist(),
            "filenames": [f"{i}.png" for i in range(len(y))],
        },
    )
    _pickle(folder / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": 20, "num_vis": 3072})
    # torchvision checks the md5 of every file (the class's own lists hold the md5s of the real CIFAR
    # files, which these small stand-ins cannot match; the metadata file is checked separately, by
    # `_load_meta`, so patching `_check_integrity` alone would not do). Point the lists at these files'
    # md5s instead: the integrity checks still run, on the files written here.
    monkeypatch.setattr(
        CIFAR10, "train_list", [[f"data_batch_{b}", _md5(folder / f"data_batch_{b}")] for b in range(1, 6)]
    )
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(folder / "batches.meta")})
    return (np.concatenate(train_x), np.concatenate(train_y)), (x, y)


def make_cifar100(root, rng, monkeypatch, train_per_class=2, test_per_class=1):
    CIFAR100 = import_torchvision().datasets.CIFAR100
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    names = [f"fine_{i:03d}" for i in range(100)]
    out = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        y = _labels(per_class, 100, rng)
        x = _images(rng, len(y), (3, 32, 32))
        _pickle(
            folder / split,
            {
                "batch_label": split,
                "data": _cifar_rows(x),
                "fine_labels": y.tolist(),
                "coarse_labels": (y // 5).tolist(),
                "filenames": [f"{i}.png" for i in range(len(y))],
            },
        )
        out[split] = (x, y)
    _pickle(folder / "meta", {"fine_label_names": names, "coarse_label_names": [f"coarse_{i}" for i in range(20)]})
    # md5s of these files instead of the real ones (see make_cifar10)
    monkeypatch.setattr(CIFAR100, "train_list", [["train", _md5(folder / "train")]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", _md5(folder / "test")]])
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": _md5(folder / "meta")})
    return out["train"], out["test"], names


def _normalised(x_uint8_nchw, mean, std):
    x = torch.as_tensor(x_uint8_nchw).float() / 255.0
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


# ---------------------------------------------------------------------------------------------------
# tv_compat


def test_import_torchvision_needs_the_compat_shim():
    plain = subprocess.Popen(
        [sys.executable, "-c", "import torchvision"],
        cwd=ROOT,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    shim_code = (
        "from clcore.data.tv_compat import import_torchvision\n"
        "tv = import_torchvision()\n"
        "again = import_torchvision()\n"
        "import torchvision\n"
        "assert tv is again is torchvision\n"
        "print(tv.datasets.FashionMNIST.__name__, tv.datasets.CIFAR10.__name__, tv.datasets.CIFAR100.__name__)\n"
    )
    shim = subprocess.Popen(
        [sys.executable, "-c", shim_code], cwd=ROOT, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    plain_out, plain_err = plain.communicate(timeout=120)
    shim_out, shim_err = shim.communicate(timeout=120)
    assert shim.returncode == 0, shim_err
    assert shim_out.split() == ["FashionMNIST", "CIFAR10", "CIFAR100"]
    if plain.returncode == 0:
        pytest.skip("plain `import torchvision` works on this install (torch and torchvision match)")
    assert "RuntimeError" in plain_err and "torchvision::nms" in plain_err


def test_import_torchvision_in_process():
    tv = import_torchvision()
    assert hasattr(tv.datasets, "CIFAR10")
    assert import_torchvision() is tv


# ---------------------------------------------------------------------------------------------------
# Fashion-MNIST


def test_fashion_mnist_from_idx_files(data_dir):
    rng = np.random.default_rng(0)
    arrays = make_fashion_mnist(data_dir, rng)
    data = datasets.load_dataset("fashion-mnist")
    x_train, y_train = arrays["train"]
    x_test, y_test = arrays["t10k"]
    assert data.x_train.shape == (100, 1, 28, 28) and data.x_test.shape == (40, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # mean 0, std 1: pixels in [0, 1]
    torch.testing.assert_close(data.x_train, torch.as_tensor(x_train).float().unsqueeze(1) / 255.0)
    torch.testing.assert_close(data.x_test, torch.as_tensor(x_test).float().unsqueeze(1) / 255.0)
    assert data.y_train.tolist() == y_train.tolist() and data.y_test.tolist() == y_test.tolist()
    assert data.class_names[0] == "T-shirt/top" and data.n_classes == 10 and data.image_shape == (1, 28, 28)
    assert datasets.load_dataset("fashion-mnist") is data  # cached

    bench = build_benchmark("split-fashion-mnist", seed=0, train_subset=15)
    assert bench.augment is None and bench.scenario == "class-il"
    assert [t.classes for t in bench.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for task in bench.tasks:
        assert len(task.train_idx) == 15 and len(task.test_idx) == 8  # 10 and 4 per class
        x, y = bench.train_batch(task, torch.arange(15))
        assert x.shape == (15, 1, 28, 28)
        assert set(y.tolist()) <= set(task.classes)
        xt, yt = bench.test_set(task)
        assert set(yt.tolist()) == set(task.classes) and xt.shape == (8, 1, 28, 28)


# ---------------------------------------------------------------------------------------------------
# CIFAR


def test_cifar10_from_python_pickles(data_dir, monkeypatch):
    rng = np.random.default_rng(1)
    (x_train, y_train), (x_test, y_test) = make_cifar10(data_dir, rng, monkeypatch)
    data = datasets.load_dataset("cifar10")
    assert data.x_train.shape == (100, 3, 32, 32) and data.x_test.shape == (30, 3, 32, 32)
    assert list(data.class_names) == CIFAR10_NAMES
    assert data.mean == CIFAR10_MEAN and data.std == CIFAR10_STD
    # the same pixels, in the same channel / row / column places, normalised per channel
    torch.testing.assert_close(data.x_train, _normalised(x_train, CIFAR10_MEAN, CIFAR10_STD))
    torch.testing.assert_close(data.x_test, _normalised(x_test, CIFAR10_MEAN, CIFAR10_STD))
    assert data.y_train.tolist() == y_train.tolist() and data.y_test.tolist() == y_test.tolist()

    bench = build_benchmark("split-cifar10", seed=0)
    assert bench.augment is random_crop_flip
    assert [t.classes for t in bench.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    for task in bench.tasks:
        assert len(task.train_idx) == 20 and len(task.test_idx) == 6
        x, y = bench.train_batch(task, torch.arange(20))
        assert x.shape == (20, 3, 32, 32) and set(y.tolist()) == set(task.classes)
    assert "airplane" in bench.tasks[0].name


def test_cifar100_from_python_pickles(data_dir, monkeypatch):
    rng = np.random.default_rng(2)
    (x_train, y_train), (x_test, y_test), names = make_cifar100(data_dir, rng, monkeypatch)
    data = datasets.load_dataset("cifar100")
    assert data.x_train.shape == (200, 3, 32, 32) and data.x_test.shape == (100, 3, 32, 32)
    assert list(data.class_names) == names and data.n_classes == 100
    torch.testing.assert_close(data.x_train, _normalised(x_train, CIFAR100_MEAN, CIFAR100_STD))
    assert data.y_train.tolist() == y_train.tolist()  # fine labels
    assert data.y_test.tolist() == y_test.tolist()

    bench = build_benchmark("split-cifar100", seed=0)
    assert len(bench.tasks) == 10
    assert [t.classes for t in bench.tasks] == [tuple(range(10 * t, 10 * t + 10)) for t in range(10)]
    for task in bench.tasks:
        assert len(task.train_idx) == 20 and len(task.test_idx) == 10
        x, y = bench.train_batch(task, torch.arange(5))
        assert x.shape == (5, 3, 32, 32) and set(y.tolist()) <= set(task.classes)


def test_tiny_cnn_run_on_split_cifar10_uses_augmentation(data_dir, monkeypatch):
    rng = np.random.default_rng(3)
    make_cifar10(data_dir, rng, monkeypatch)
    run = Run(
        make_config(
            benchmark="split-cifar10", model="cnn", strategy="er", buffer_size=20, batch_size=20, eval_every=0, seed=0
        )
    )
    assert run.benchmark.data.x_train.shape == (100, 3, 32, 32)
    calls = []
    real = run.benchmark.augment

    def counting(x, generator):
        out = real(x, generator)
        calls.append(x.shape[0])
        assert out.shape == x.shape
        return out

    run.benchmark.augment = counting
    result = run.run_to_end()
    assert result["status"] == "finished"
    assert len(result["acc_matrix"]) == 5 and all(0 <= v <= 100 for r in result["acc_matrix"] for v in r)
    # every training batch (1 per task), and every replay batch (all steps but the first), is augmented
    assert result["steps"] == 5
    assert calls == [20] * 9  # 5 training batches + 4 replay batches of 20
    # the buffer keeps the raw (un-augmented) images: each stored one is a training image exactly
    stored = run.strategy.buffer.x[: len(run.strategy.buffer)].flatten(1)
    train = run.benchmark.data.x_train.flatten(1)
    matches = (stored[:, None, :] == train[None, :, :]).all(-1)
    assert bool(matches.any(1).all())


def test_random_crop_flip_is_a_crop_and_flip_of_the_padded_image():
    n, c, h, w, pad = 64, 2, 5, 6, 2
    x = torch.arange(1, 1 + n * c * h * w, dtype=torch.float32).view(n, c, h, w)  # no zeros, all distinct
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=pad)
    assert out.shape == x.shape
    padded = F.pad(x, (pad,) * 4)
    found = []
    for i in range(n):
        matches = [
            (oy, ox, flip)
            for oy in range(2 * pad + 1)
            for ox in range(2 * pad + 1)
            for flip in (False, True)
            if torch.equal(
                out[i], (lambda crop: crop.flip(-1) if flip else crop)(padded[i, :, oy : oy + h, ox : ox + w])
            )
        ]
        assert len(matches) == 1, (i, matches)  # exactly one crop position and flip explains it
        found.append(matches[0])
    flips = {f for _, _, f in found}
    offsets = {(oy, ox) for oy, ox, _ in found}
    assert flips == {False, True} and len(offsets) > 10  # random, not fixed
    assert torch.equal(out, random_crop_flip(x, torch.Generator().manual_seed(0), padding=pad))  # seeded
    assert not torch.equal(out, random_crop_flip(x, torch.Generator().manual_seed(1), padding=pad))


# ---------------------------------------------------------------------------------------------------
# missing data


@pytest.mark.parametrize(
    "name, display, folder_hint",
    [
        ("fashion-mnist", "Fashion-MNIST", "FashionMNIST/raw/"),
        ("cifar10", "CIFAR-10", "cifar-10-batches-py/"),
        ("cifar100", "CIFAR-100", "cifar-100-python/"),
    ],
)
def test_missing_data_set_raises_data_unavailable(name, display, folder_hint, data_dir):
    with pytest.raises(DataUnavailable) as info:
        datasets.load_dataset(name)
    message = str(info.value)
    assert "\n" not in message
    assert display in message
    assert str(data_dir) in message
    assert folder_hint in message and "connect to the internet" in message and "CLCORE_DATA" in message


def test_missing_data_through_run_is_a_data_unavailable_error(data_dir):
    with pytest.raises(DataUnavailable):
        Run(make_config(benchmark="split-cifar10", model="cnn"))


# ---------------------------------------------------------------------------------------------------
# bundled MNIST


def test_bundled_mnist():
    data = datasets.load_dataset("mnist")
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert torch.bincount(data.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    assert data.class_names == tuple(str(i) for i in range(10)) and data.mean == (0.0,) and data.std == (1.0,)
