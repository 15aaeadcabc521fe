"""Task-free streams: the MNIST-360 stream of the DER paper and blurry task boundaries for split benchmarks.

MNIST-360 (Buzzega et al., NeurIPS 2020, "general continual learning"), built as mammoth's
datasets/mnist_360.py builds it (bench/REFERENCES.md cites the file and commit):
- the digits 0-8; each class's training images (in data-set order) are cut into 2 x ROUNDS chunks, streamed
  last chunk first (mammoth pops its list);
- a chunk streams as many images as it holds, each drawn from it at random with replacement (mammoth's
  `next(iter(loader))` builds a new shuffled loader for every image), so some come twice and about a third
  (1/e) never: the stream's own redundancy, which the DER paper's figures were measured with;
- the stream presents the class pairs (0,1), (1,2), ..., (7,8), (8,0), ROUNDS times: each class appears in
  2 x ROUNDS pairs, one chunk each, so classes recur; a pair's two chunks are interleaved in proportion to what
  is left of each (mammoth's batch composition), so both end together and the next pair begins;
- every image of class j is rotated by (j - 1) x 60 degrees plus 360 / n_j per image of that class streamed
  before it: each class turns once, continuously, through the whole circle over the stream;
- the test set is each class's test images, the i-th of n rotated by i x 360 / n degrees (no randomness);
- rotations take the nearest pixel, as torchvision's rotate of mammoth's PIL images does by default.
Deviation (stated in bench/REFERENCES.md): chunks are near-equal (sizes differ by at most one, where mammoth's
are n // 6 + 1 with a short last one).

Blurry boundaries: a share of each task's training data is moved into its neighbouring tasks (half to the one
before, half to the one after; the first and last task give all of it to their one neighbour), in the spirit of
the "blurry" task boundaries where tasks share classes (Rainbow Memory, Si-Blurry), restricted to neighbours so
that a class still has one task where it is most present.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MNIST360_CLASSES = 9
MNIST360_ROUNDS = 3
MNIST360_CHUNKS = 2 * MNIST360_ROUNDS  # chunks per class: one per pair the class appears in
BLURRY_MAX = 0.5


def rotate_each(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) each rotated by its own angle (degrees, shape (N,)), about the centre, each output
    pixel taking its nearest source pixel."""
    radians = torch.deg2rad(degrees.to(device=x.device, dtype=x.dtype))
    cos, sin, zero = torch.cos(radians), torch.sin(radians), torch.zeros_like(radians)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", align_corners=False)


def _turning_angles(n: int, start: float) -> torch.Tensor:
    """The angles of a class's n images in streaming order: one full turn from `start` (mammoth's
    IncrementalRotation with increase_per_iteration = 360 / n)."""
    return (start + torch.arange(n, dtype=torch.float64) * (360.0 / n)).remainder(360.0).float()


def _interleaving(n_first: int, n_second: int) -> torch.Tensor:
    """The order that merges two chunks (indices into their concatenation) so that each stays in proportion to
    what is left of it: both end together."""
    keys = torch.cat([(torch.arange(n_first) + 0.5) / n_first, (torch.arange(n_second) + 0.5) / n_second])
    return torch.argsort(keys, stable=True)


def mnist360_stream(y_train: torch.Tensor, generator: torch.Generator, per_class: int | None = None):
    """(positions into the training set in streaming order, each one's rotation in degrees), both on y_train's
    device. `per_class`: use only the first this many images of each class (at least one per chunk)."""
    chunks, angles = [], []  # per class: its chunks in streaming order, and its angles in streaming order
    for label in range(MNIST360_CLASSES):
        idx = torch.nonzero(y_train == label).flatten().cpu()
        if per_class is not None:
            idx = idx[: max(per_class, MNIST360_CHUNKS)]
        parts = list(torch.tensor_split(idx, MNIST360_CHUNKS))[::-1]
        # as many draws as the chunk holds, with replacement (mammoth's fresh shuffled loader per image)
        chunks.append([part[torch.randint(len(part), (len(part),), generator=generator)] for part in parts])
        angles.append(_turning_angles(len(idx), (label - 1) * 60.0))
    order, order_angles = [], []
    streamed = [0] * MNIST360_CLASSES  # images of each class streamed so far
    for pair in range(MNIST360_ROUNDS * MNIST360_CLASSES):
        positions, rotations = [], []
        for label in (pair % MNIST360_CLASSES, (pair + 1) % MNIST360_CLASSES):
            chunk = chunks[label].pop(0)
            positions.append(chunk)
            rotations.append(angles[label][streamed[label] : streamed[label] + len(chunk)])
            streamed[label] += len(chunk)
        merge = _interleaving(len(positions[0]), len(positions[1]))
        order.append(torch.cat(positions)[merge])
        order_angles.append(torch.cat(rotations)[merge])
    device = y_train.device
    return torch.cat(order).to(device), torch.cat(order_angles).to(device)


def mnist360_test(x_test: torch.Tensor, y_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST-360 test set: each class's test images, the i-th of n rotated by i x 360 / n degrees."""
    xs, ys = [], []
    for label in range(MNIST360_CLASSES):
        idx = torch.nonzero(y_test == label).flatten()
        xs.append(rotate_each(x_test[idx], _turning_angles(len(idx), 0.0)))
        ys.append(y_test[idx])
    return torch.cat(xs), torch.cat(ys)


def blur_tasks(train_idx: list[torch.Tensor], share: float, generator: torch.Generator) -> list[torch.Tensor]:
    """Each task's training indices with `share` of every task's samples moved into its neighbours (half to the
    task before, half to the one after; all to the single neighbour of the first and last task). Nothing is
    lost or duplicated. Each result is shuffled, so that a prefix stays a fair random subset."""
    n_tasks = len(train_idx)
    received: list[list[torch.Tensor]] = [[] for _ in range(n_tasks)]
    kept = []
    for t, idx in enumerate(train_idx):
        neighbours = [u for u in (t - 1, t + 1) if 0 <= u < n_tasks]
        leaving = math.floor(share * len(idx)) if neighbours else 0
        # the indices arrive shuffled: the first `leaving` are a random share
        for u, part in zip(neighbours, torch.tensor_split(idx[:leaving], len(neighbours) or 1)):
            received[u].append(part)
        kept.append(idx[leaving:])
    mixed = [torch.cat([kept[t], *received[t]]) for t in range(n_tasks)]
    return [idx[torch.randperm(len(idx), generator=generator).to(idx.device)] for idx in mixed]
