"""Backbones: an MLP (the S-MNIST / P-MNIST literature's), a small CNN, and ResNet-18 (S-CIFAR).

Each model splits into `features(x)` and a linear `classifier`, so strategies can reach the
penultimate representation, and names its first layer for importance maps. Each is also a chain of
blocks (`BlockChain`) that strategies can cut at any depth (latent replay, CWR*, AR1).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_NAMES = ("mlp", "cnn", "resnet18")


class BlockChain:
    """The network as `features` = a chain of blocks, then the classifier, cut at a depth k in 0..depth:
    `latent(x, k)` runs the first k blocks, `head(h, k)` the rest and the classifier, so that
    head(latent(x, k), k) == forward(x). `lower_modules(k)` own the first k blocks' parameters and
    buffers (what latent replay freezes)."""

    def blocks(self) -> list[tuple[tuple[nn.Module, ...], Callable]]:
        """(modules holding the block's parameters, the block's function), input to features."""
        raise NotImplementedError

    @property
    def depth(self) -> int:
        return len(self.blocks())

    def latent(self, x, k: int):
        for _, block in self.blocks()[:k]:
            x = block(x)
        return x

    def head(self, h, k: int):
        for _, block in self.blocks()[k:]:
            h = block(h)
        return self.classifier(h)

    def lower_modules(self, k: int) -> list[nn.Module]:
        return [module for modules, _ in self.blocks()[:k] for module in modules]


class MLP(BlockChain, nn.Module):
    def __init__(self, input_shape, n_classes: int, hidden=(100, 100)):
        super().__init__()
        sizes = [int(torch.tensor(input_shape).prod())] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.classifier = nn.Linear(sizes[-1], n_classes)
        self.reset_parameters()

    def reset_parameters(self):
        # The S-MNIST / P-MNIST literature's MLP (mammoth's MNISTMLP) uses Xavier-uniform weights and
        # zero biases; PyTorch's default init costs 1-3 points of accuracy there (bench/diagnose_init.py).
        for layer in [*self.hidden, self.classifier]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def first_layer(self) -> nn.Linear:
        return self.hidden[0] if len(self.hidden) else self.classifier

    def features(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return x

    def blocks(self):
        return [((layer,), lambda x, layer=layer: F.relu(layer(x.flatten(1)))) for layer in self.hidden]

    def forward(self, x):
        return self.classifier(self.features(x))


class SmallCNN(BlockChain, nn.Module):
    """Two conv blocks (32, 64 channels) and a 256-unit hidden layer."""

    def __init__(self, input_shape, n_classes: int, width: int = 32):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * (h // 4) * (w // 4), 256)
        self.classifier = nn.Linear(256, n_classes)

    @property
    def first_layer(self) -> nn.Conv2d:
        return self.conv1

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def blocks(self):
        return [
            ((self.conv1,), lambda x: F.max_pool2d(F.relu(self.conv1(x)), 2)),
            ((self.conv2,), lambda x: F.max_pool2d(F.relu(self.conv2(x)), 2)),
            ((self.fc,), lambda x: F.relu(self.fc(x.flatten(1)))),
        ]

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(BlockChain, nn.Module):
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool) as used by DER, CLS-ER and mammoth."""

    def __init__(self, input_shape, n_classes: int, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, in_planes = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            planes = width * 2**i
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_planes, n_classes)

    @property
    def first_layer(self) -> nn.Conv2d:
        return self.conv1

    def features(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def blocks(self):
        return [
            ((self.conv1, self.bn1), lambda x: F.relu(self.bn1(self.conv1(x)))),
            *(((block,), block) for block in self.layers),
            ((), lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1)),
        ]

    def forward(self, x):
        return self.classifier(self.features(x))


def reinitialised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of `model` with fresh initial weights drawn the way the model draws them (deterministic in
    `seed`, whatever the device: drawn on the CPU)."""
    fresh = copy.deepcopy(model).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(fresh, "reset_parameters"):
            fresh.reset_parameters()
        else:
            for module in fresh.modules():
                if module is not fresh and hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return fresh.to(next(model.parameters()).device)


def build_model(name: str, input_shape, n_classes: int, hidden=(100, 100), width: int | None = None) -> nn.Module:
    if name == "mlp":
        return MLP(input_shape, n_classes, hidden)
    if name == "cnn":
        return SmallCNN(input_shape, n_classes, width or 32)
    if name == "resnet18":
        return ResNet18(input_shape, n_classes, width or 64)
    raise ValueError(f"unknown model {name}")
