"""Sweeps and tuning on Ray: `python -m clcore sweep GRID` and `python -m clcore tune ...` (no Streamlit here).

grid.py reads and checks grid files into cells (full RunConfigs keyed by a config hash); executor.py runs cells
on a local or remote Ray cluster and records them in the run store, so a sweep resumes where it stopped;
table.py summarises the store's finished cells (mean ± std over seeds); tune.py searches a strategy's
parameters with Optuna on the validation hold-out; commands.py holds the two sub-commands.
"""
