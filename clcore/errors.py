"""Errors that carry a message meant for the person at the controls (CLI line, st.error)."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the value and the valid choices."""


class DataUnavailable(RuntimeError):
    """A data set is not on disk and could not be downloaded; the message says what to do."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite; the run stops and keeps its results so far."""
