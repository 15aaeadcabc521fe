"""Mechanics shared by strategies: buffers, EMA teachers, distillation losses, importance estimates, gradient
projections, latent cuts, consolidated heads, the VAE generator. Each lives here once; strategies compose them."""
