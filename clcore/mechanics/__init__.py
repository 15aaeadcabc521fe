"""Mechanics shared by strategies: buffers, EMA teachers, distillation losses, importance estimates, gradient
projections, latent cuts, consolidated heads, the VAE generator, the task-aware models' common base and their
learned weight masks, and reading typed task-end reports back. Each lives here once; strategies compose them."""
