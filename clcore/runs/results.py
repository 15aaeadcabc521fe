"""The JSON result of a run: what `python -m clcore run --out` writes and the app stores and downloads."""

from __future__ import annotations

import dataclasses
import json
import math

import torch

from clcore.runs import metrics

SCHEMA_VERSION = 1
MAX_ARRAY_IN_JSON = 4096  # larger tensors (per-unit importance maps) stay in memory for the live views


def _metrics_for(rows, random_init, offline: bool) -> dict:
    if not rows:
        return {"avg_acc": None, "forgetting": None, "bwt": None, "fwt": None}
    if offline:  # joint trains once on everything: one row, no before/after to compare
        return {"avg_acc": sum(rows[0]) / len(rows[0]), "forgetting": None, "bwt": None, "fwt": None}
    return metrics.summarize(rows, random_init)


def jsonable(value):
    """Tensors to lists (large ones dropped), non-finite floats to None, tuples to lists, dataclasses (the
    strategies' typed reports) to dicts of their fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # every field kept (a dropped tensor as None); read directly, as dataclasses.asdict would deep-copy tensors
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= MAX_ARRAY_IN_JSON else None
    if isinstance(value, dict):
        return {
            str(k): jsonable(v)
            for k, v in value.items()
            if not isinstance(v, torch.Tensor) or v.numel() <= MAX_ARRAY_IN_JSON
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def build_result(run) -> dict:
    rec, bench = run.record, run.benchmark
    offline = run.strategy.trains_offline
    primary = run.primary_model
    per_model = {}
    for name in run.strategy.evaluation_models():
        rows = rec.matrix.get(name, [])
        entry = {"acc_matrix": rows, **_metrics_for(rows, rec.random_init.get(name), offline)}
        if bench.has_task_il:
            rows_til = rec.matrix_task_il.get(name, [])
            entry["acc_matrix_task_il"] = rows_til
            entry["task_il"] = _metrics_for(rows_til, rec.random_init_task_il.get(name), offline)
        per_model[name] = entry
    main = per_model[primary]
    curve_evals = [e for e in rec.evals if e.step > 0 or not e.full or e is rec.evals[0]]
    result = {
        "schema": SCHEMA_VERSION,
        "status": run.status,
        "message": run.message,
        "config": run.config.to_dict(),
        "tasks": [t.name for t in bench.tasks],
        "task_classes": [list(t.classes) for t in bench.tasks],
        "reported_model": primary,
        # parameters of the reported model at the end (grows with tasks for PNN, hypernetwork embeddings, ...)
        "model_params": sum(p.numel() for p in run.strategy.evaluation_models()[primary].parameters()),
        "offline": offline,
        "acc_matrix": main["acc_matrix"],
        "avg_acc": main["avg_acc"],
        "forgetting": main["forgetting"],
        "bwt": main["bwt"],
        "fwt": main["fwt"],
        "random_init_acc": rec.random_init.get(primary),
        "wall_s": run.active_s,
        "train_s": run.train_s,
        "train_samples": run.train_samples,
        "train_samples_per_s": run.train_samples / run.train_s if run.train_s else None,
        "steps": run.step,
        "task_boundaries": rec.task_boundaries,
        "curves": {
            "steps": [e.step for e in curve_evals],
            "full": [e.full for e in curve_evals],
            "acc": {name: [e.acc[name] for e in curve_evals] for name in per_model},
        },
        "loss_curve": {"steps": rec.loss_steps, "loss": rec.loss},
    }
    if bench.has_task_il:
        result["acc_matrix_task_il"] = main["acc_matrix_task_il"]
        result["task_il"] = main["task_il"]
    if len(per_model) > 1:
        result["per_model"] = per_model
    if rec.buffer_history:
        result["buffer"] = {
            "steps": [s for s, _ in rec.buffer_history],
            "classes": [c["classes"] for _, c in rec.buffer_history],
            "tasks": [c["tasks"] for _, c in rec.buffer_history],
        }
    if rec.step_stats:
        result["step_stats"] = {"steps": [s for s, _ in rec.step_stats], "values": [v for _, v in rec.step_stats]}
    if rec.strategy_reports:
        result["strategy_reports"] = jsonable(rec.strategy_reports)
    return jsonable(result)


def write_result(result: dict, path) -> None:
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
