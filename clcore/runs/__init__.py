"""Runs: the training loop (Run) and its events, evaluation, metrics over the accuracy matrix, background
execution, results files and the run store."""
