"""Runs: the training loop (Run) and its events, evaluation, metrics over the accuracy matrix, its states
(RunState), background execution (BackgroundRun, RunQueue), results files and the run store."""
