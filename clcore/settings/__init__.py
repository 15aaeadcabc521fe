"""Settings: the declared run settings, their validation into a RunConfig, paper presets and recommended settings."""
