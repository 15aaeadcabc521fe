"""A small variational autoencoder (Kingma & Welling, ICLR 2014): the generator of generative replay.

Fully connected encoder and decoder (two hidden layers each, as van de Ven & Tolias's VAE for MNIST,
arXiv:1809.10635), a diagonal Gaussian posterior q(z|x) = N(mu, diag(exp(logvar))), a standard normal
prior, and a Bernoulli likelihood over pixel intensities in [0, 1]. The loss per image is the negative
ELBO (Kingma & Welling, eq. 10): binary cross-entropy summed over pixels plus KL(q(z|x) || N(0, I)).

The classifier sees images normalised with the data set's per-channel mean and std (clcore.data.datasets);
the VAE maps them back to [0, 1] pixels to model them and maps its samples forward again, so generated
replay lands in exactly the input space the classifier is fed (for Permuted-MNIST that is the permuted
pixels: a per-pixel normalisation commutes with a permutation). All noise comes from a caller's CPU
generator, so runs stay deterministic.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    def __init__(self, image_shape, mean, std, hidden: int = 400, latent: int = 100):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent = latent
        n_pixels = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.to_mean = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels)
        )
        channels = self.image_shape[0]
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, channels, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, channels, 1, 1))

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised classifier inputs -> intensities in [0, 1] (clamped: augmentation may overshoot)."""
        return (x * self.std + self.mean).clamp(0.0, 1.0)

    def from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std

    def _noise(self, shape, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(shape, generator=generator).to(self.mean.device)

    def negative_elbo(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image: (reconstruction loss in nats, KL divergence to the prior), each of shape (N,).
        One reparameterised sample z = mu + sigma * eps per image."""
        pixels = self.to_pixels(x).flatten(1)
        hidden = self.encoder(pixels)
        mu, logvar = self.to_mean(hidden), self.to_logvar(hidden)
        z = mu + self._noise(mu.shape, generator) * torch.exp(0.5 * logvar)
        reconstruction = F.binary_cross_entropy_with_logits(self.decoder(z), pixels, reduction="none").sum(1)
        kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return reconstruction, kl

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` images drawn from the prior and decoded to their Bernoulli means, in the classifier's
        normalised input space."""
        z = self._noise((n, self.latent), generator)
        pixels = torch.sigmoid(self.decoder(z)).view(n, *self.image_shape)
        return self.from_pixels(pixels)
