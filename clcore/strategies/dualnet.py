"""DualNet (Pham, Liu & Hoi, "DualNet: Continual Learning, Fast and Slow", NeurIPS 2021).

Two learners share one network, after the complementary learning systems theory:
- the slow learner (the MLP's hidden layers) learns a general, task-agnostic representation with a
  self-supervised objective, Barlow Twins (Zbontar et al., ICML 2021, eq. 1), on two random views of
  replay-buffer samples. After its `inner_steps` SSL steps per incoming batch, a look-ahead update keeps
  only a fraction beta of their change: theta <- theta_before + beta * (theta_after - theta_before)
  (the reference code's slow update), so it learns slowly;
- the fast learner adapts the slow features with feature-wise transformations (the paper's eq. 3):
  layer by layer, m_l = g_l(m_{l-1}) * h_l, where h_l is the slow learner's l-th feature map, g_l a
  fast layer (linear + ReLU here) and m_0 the input; the classifier reads m_L. It is trained supervised
  on the current batch and a buffer batch, with the paper's replay loss (cross-entropy on both plus
  a distillation term on the logits the buffer stored with each sample, clcore.mechanics.losses.distillation_loss).

The slow learner is trained by the SSL objective only: the classification path uses its features as
given (no gradient flows back into them), so labels shape the fast learner and the classifier alone.

Views for the MLP on 28x28 images: random pixel dropout plus Gaussian pixel noise. Both act per pixel,
so they mean the same on Permuted-MNIST, where crops or shifts of the scrambled pixels would not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clcore.errors import ConfigError
from clcore.mechanics.losses import distillation_loss
from clcore.strategies.base import Param, Strategy, register

PIXEL_DROP = 0.2  # probability that a view blanks a pixel (sets it to black)
PIXEL_NOISE = 0.1  # std of the Gaussian noise added to each pixel, in [0, 1] intensity units
PROJECTOR_WIDTH = 256  # hidden units of the Barlow Twins projector (the reference code's 256)
BARLOW_OFF_DIAGONAL = 2e-3  # lambda of Barlow Twins' redundancy-reduction term (the reference code's)


def barlow_twins_loss(z_a: torch.Tensor, z_b: torch.Tensor, off_diagonal_weight: float) -> torch.Tensor:
    """Zbontar et al. (2021), eq. 1: embeddings standardised over the batch, C = z_a^T z_b / N their
    cross-correlation; sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2. Zero exactly when the two
    views' embeddings agree and their dimensions are decorrelated."""

    def standardise(z):
        centred = z - z.mean(0)
        return centred / centred.pow(2).mean(0).clamp_min(1e-12).sqrt()

    c = standardise(z_a).T @ standardise(z_b) / z_a.shape[0]
    on_diagonal = (1.0 - torch.diagonal(c)).pow(2).sum()
    off_diagonal = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on_diagonal + off_diagonal_weight * off_diagonal


class DualNetModel(nn.Module):
    """The run's MLP as the slow learner (its hidden layers) and classifier, plus one fast layer per
    hidden layer that modulates the slow features."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.slow = mlp.hidden
        self.fast = nn.ModuleList(nn.Linear(layer.in_features, layer.out_features) for layer in self.slow)
        for layer in self.fast:  # the same Xavier init as the MLP's own layers
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.classifier = mlp.classifier

    def slow_features(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.slow:
            h = F.relu(layer(h))
        return h

    def forward_parts(self, x: torch.Tensor):
        """(logits, last slow feature h_L, last fast gate g_L, adapted feature m_L). The slow features
        enter as constants: the supervised loss trains only the fast layers and the classifier."""
        h = m = x.flatten(1)
        gate = None
        for slow, fast in zip(self.slow, self.fast):
            h = F.relu(slow(h)).detach()
            gate = F.relu(fast(m))
            m = gate * h
        return self.classifier(m), h, gate, m

    def forward(self, x):
        return self.forward_parts(x)[0]


@register
class DualNet(Strategy):
    name = "dualnet"
    family = "hybrid"
    title = "DualNet (fast and slow learners)"
    summary = (
        "A slow learner trained self-supervised (Barlow Twins) on the buffer; a fast learner modulates its "
        "features for the labels."
    )
    uses_buffer = True
    stores_logits = True
    params = (
        Param("inner_steps", 2, 1, 20, "SSL steps and supervised steps per incoming batch"),
        Param("ssl_lr", 3e-4, 0.0, 1.0, "learning rate of the slow learner's SGD on the Barlow Twins loss"),
        Param("beta", 0.05, 0.0, 1.0, "look-ahead: fraction of the SSL steps' weight change the slow learner keeps"),
        Param("ssl_batch_size", 32, 2, 1024, "buffer samples per SSL step (two views each)"),
        Param("distill_weight", 0.5, 0.0, 100.0, "weight of the distillation towards the buffer's stored logits"),
        Param("temperature", 2.0, 0.1, 100.0, "T: softmax temperature of that distillation"),
    )

    def __init__(self, model, optimizer, *args, **kwargs):
        super().__init__(model, optimizer, *args, **kwargs)
        if not hasattr(model, "hidden"):
            raise ConfigError("model", "dualnet_needs_mlp", strategy=self.name)
        self.dualnet = DualNetModel(model).to(self.benchmark.device)
        width = model.hidden[-1].out_features
        self.projector = nn.Sequential(
            nn.Linear(width, PROJECTOR_WIDTH, bias=False),
            nn.BatchNorm1d(PROJECTOR_WIDTH),
            nn.ReLU(),
            nn.Linear(PROJECTOR_WIDTH, width, bias=False),
        ).to(self.benchmark.device)
        self.slow_parameters = [*self.dualnet.slow.parameters(), *self.projector.parameters()]
        self.ssl_optimizer = torch.optim.SGD(self.slow_parameters, lr=self.hp.ssl_lr)
        # The supervised optimizer is the run's (same kind and settings) over the fast learner and classifier.
        fast_parameters = [*self.dualnet.fast.parameters(), *self.dualnet.classifier.parameters()]
        self.optimizer = type(optimizer)(fast_parameters, **optimizer.defaults)
        data = self.benchmark.data
        channels = data.image_shape[0]
        self._mean = torch.tensor(data.mean, device=self.benchmark.device).view(1, channels, 1, 1)
        self._std = torch.tensor(data.std, device=self.benchmark.device).view(1, channels, 1, 1)

    def evaluation_models(self):
        return {"dualnet": self.dualnet}

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """A random view: each pixel blanked with probability PIXEL_DROP, then Gaussian noise (in the
        normalised space, so that it is PIXEL_NOISE in intensity units)."""
        keep = (torch.rand(x.shape, generator=self.generator) >= PIXEL_DROP).to(x.device)
        noise = torch.randn(x.shape, generator=self.generator).to(x.device) * (PIXEL_NOISE / self._std)
        black = -self._mean / self._std
        return torch.where(keep, x, black) + noise

    def slow_learner_step(self) -> torch.Tensor | None:
        """`inner_steps` Barlow Twins steps on buffer samples, then the look-ahead interpolation.
        Returns the mean SSL loss (None while the buffer holds fewer than two samples)."""
        if len(self.buffer) < 2:
            return None
        before = [p.detach().clone() for p in self.slow_parameters]
        losses = []
        for _ in range(self.hp.inner_steps):
            x = self.replay_batch(self.hp.ssl_batch_size).x
            z_a = self.projector(self.dualnet.slow_features(self.view(x)))
            z_b = self.projector(self.dualnet.slow_features(self.view(x)))
            loss = barlow_twins_loss(z_a, z_b, BARLOW_OFF_DIAGONAL)
            self.ssl_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.ssl_optimizer.step()
            losses.append(loss.detach())
        with torch.no_grad():
            for parameter, old in zip(self.slow_parameters, before):
                parameter.copy_(torch.lerp(old, parameter, self.hp.beta))
        return torch.stack(losses).mean()

    def supervised_loss(self, batch):
        logits, slow, gate, adapted = self.dualnet.forward_parts(batch.x)
        loss = self.classification_loss(logits, batch.y, batch.task)
        if len(self.buffer):
            replay = self.replay_batch()
            replay_logits = self.dualnet(replay.x)
            loss = (
                loss
                + self.classification_loss(replay_logits, replay.y, replay.task)
                + self.hp.distill_weight * distillation_loss(replay_logits, replay.logits, self.hp.temperature)
            )
        return loss, logits, slow, gate, adapted

    def observe(self, batch):
        ssl_loss = self.slow_learner_step()
        for _ in range(self.hp.inner_steps):
            loss, logits, slow, gate, adapted = self.supervised_loss(batch)
            self.optimizer_step(loss)
        self.buffer.add(batch.raw, batch.y, batch.task, logits=logits.detach())
        if ssl_loss is not None:
            self.stats.add("ssl_loss", ssl_loss)
        self.stats.add("supervised_loss", loss.detach())
        self.stats.add("slow_feature_norm", slow.norm(dim=1).mean())
        self.stats.add("adapted_feature_norm", adapted.detach().norm(dim=1).mean())
        self.stats.add("gate_mean", gate.detach().mean())
        return loss.detach()
