"""Test-set accuracy of one or more models on every task, in one pass over the data."""

from __future__ import annotations

import torch


@torch.no_grad()
def evaluate(models: dict, benchmark, limit: int | None = None, batch_size: int = 1000) -> tuple[dict, dict | None]:
    """Returns ({model: [acc % per task]}, {model: [Task-IL acc % per task]} or None).

    The first dict scores the benchmark's scenario (argmax over all classes, or over the task's classes
    in the Task-IL scenario); the second masks to each task's classes and exists for split benchmarks.
    A model with `forward_task(x, task_index)` (task-aware: one head or mask per task) is scored with it
    wherever the task is known, i.e. for Task-IL, and with its task-agnostic forward otherwise."""
    task_il_scenario = benchmark.scenario == "task-il"
    # Only what is reported is computed: a task-aware model's task-agnostic forward (task inference over all
    # its tasks) is not needed in the Task-IL scenario, and per-task masking is not when no Task-IL is reported.
    needs_masked = task_il_scenario or benchmark.has_task_il
    modes = {name: model.training for name, model in models.items()}
    for model in models.values():
        model.eval()
    correct = torch.zeros(len(models), 2, len(benchmark.tasks), device=benchmark.device)
    totals = []
    for task in benchmark.tasks:
        idx = task.test_idx if limit is None else task.test_idx[:limit]
        totals.append(len(idx))
        mask = benchmark.class_masks[task.index]
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            x, y = benchmark.inputs(task, benchmark.data.x_test[chunk]), benchmark.data.y_test[chunk]
            for m, model in enumerate(models.values()):
                forward_task = getattr(model, "forward_task", None)
                logits = None if task_il_scenario and forward_task else model(x)
                if needs_masked:
                    known_task = logits if forward_task is None else forward_task(x, task.index)
                    masked = known_task.masked_fill(~mask, float("-inf"))
                    correct[m, 1, task.index] += (masked.argmax(1) == y).sum()
                correct[m, 0, task.index] += ((masked if task_il_scenario else logits).argmax(1) == y).sum()
    for name, model in models.items():
        model.train(modes[name])
    acc = (correct * 100.0 / torch.tensor(totals, device=correct.device).clamp_min(1)).tolist()
    scenario_acc = {name: acc[m][0] for m, name in enumerate(models)}
    task_il_acc = {name: acc[m][1] for m, name in enumerate(models)} if benchmark.has_task_il else None
    return scenario_acc, task_il_acc
