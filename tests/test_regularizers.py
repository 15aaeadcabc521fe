"""Importance-based regularisation: the quadratic penalty, the empirical Fisher, online EWC and SI."""

import pytest
import torch
import torch.nn.functional as F

from clcore import Run, make_config
from clcore.mechanics.importance import (
    ImportanceReport,
    empirical_fisher,
    importance_summary,
    named_params,
    quadratic_penalty,
    snapshot,
)
from clcore.models import MLP, SmallCNN
from clcore.strategies import Batch

HIDDEN = 32


def tiny_mlp(seed=0, n_classes=5):
    torch.manual_seed(seed)
    return MLP((1, 4, 4), n_classes, hidden=(6,)).double()


# ---------------------------------------------------------------------------------------------------
# quadratic penalty


def test_quadratic_penalty_zero_at_anchor_and_gradient_away_from_it():
    model = tiny_mlp()
    anchor = snapshot(model)
    gen = torch.Generator().manual_seed(1)
    importance = {k: torch.rand(v.shape, generator=gen, dtype=v.dtype) for k, v in anchor.items()}

    penalty = quadratic_penalty(model, anchor, importance)
    assert penalty.item() == 0.0

    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.1)
    model.zero_grad()
    penalty = quadratic_penalty(model, anchor, importance)
    expected = sum((importance[k] * (p.detach() - anchor[k]) ** 2).sum() for k, p in named_params(model).items())
    torch.testing.assert_close(penalty.detach(), expected)
    assert penalty.item() > 0
    penalty.backward()
    for name, p in named_params(model).items():
        torch.testing.assert_close(p.grad, 2 * importance[name] * (p.detach() - anchor[name]))


# ---------------------------------------------------------------------------------------------------
# empirical Fisher


def _slow_fisher(model, x, y, logit_fn=None):
    """One backward pass per sample: mean of squared gradients of log p(y_i | x_i)."""
    fisher = {k: torch.zeros_like(v) for k, v in named_params(model).items()}
    for i in range(len(x)):
        model.zero_grad()
        logits = model(x[i : i + 1])
        if logit_fn is not None:
            logits = logit_fn(logits)
        F.log_softmax(logits, dim=1)[0, y[i]].backward()
        for k, p in named_params(model).items():
            fisher[k] += p.grad**2
    return {k: v / len(x) for k, v in fisher.items()}


@pytest.mark.parametrize("chunk", [256, 7])  # one chunk, and several with a remainder
def test_empirical_fisher_equals_per_sample_loop(chunk):
    model = tiny_mlp()
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(20, 1, 4, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (20,), generator=gen)
    fast = empirical_fisher(model, x, y, chunk=chunk)
    slow = _slow_fisher(model, x, y)
    assert set(fast) == set(slow)
    for k in slow:
        assert fast[k].shape == slow[k].shape
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-9, atol=1e-12)
    assert model.training  # mode restored


def test_empirical_fisher_of_a_cnn_equals_per_sample_loop():
    """Models with convolutions take the per-sample (vmap) path, MLPs the linear-layer shortcut:
    both must give the same exact Fisher as one backward pass per sample."""
    torch.manual_seed(4)
    model = SmallCNN((1, 8, 8), 5, width=3).double()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(9, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 5, (9,), generator=gen)
    fast = empirical_fisher(model, x, y, chunk=4)
    slow = _slow_fisher(model, x, y)
    assert set(fast) == set(slow) and any(k.startswith("conv") for k in fast)
    for k in slow:
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-9, atol=1e-12)


def test_empirical_fisher_with_task_masking():
    model = tiny_mlp()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12, 1, 4, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(1, 3, (12,), generator=gen)
    mask = torch.tensor([False, True, True, False, False])  # only classes 1 and 2 compete

    def logit_fn(logits):
        return logits.masked_fill(~mask, float("-inf"))

    fast = empirical_fisher(model, x, y, logit_fn=logit_fn, chunk=5)
    slow = _slow_fisher(model, x, y, logit_fn)
    for k in slow:
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-9, atol=1e-12)
    # masked-out classes get no gradient through the classifier
    assert torch.all(fast["classifier.weight"][~mask] == 0)
    assert torch.all(fast["classifier.weight"][mask] > 0)


# ---------------------------------------------------------------------------------------------------
# online EWC


def small_run(strategy, **kw):
    cfg = dict(strategy=strategy, train_subset=100, batch_size=10, hidden=(HIDDEN,), eval_every=0, seed=0)
    cfg.update(kw)
    return Run(make_config(**cfg))


def test_ewc_importance_anchor_and_penalty():
    run = small_run("ewc", params={"ewc_lambda": 50.0, "gamma": 0.5})
    s = run.strategy
    assert s.importance is None and s.anchor is None
    run.advance(until="task")
    assert run.task == 0 and len(run.record.matrix["student"]) == 1

    # anchor = the weights at the end of task 1; importance = that task's empirical Fisher
    for k, p in named_params(s.model).items():
        assert torch.equal(s.anchor[k], p.detach())
    task = run.benchmark.tasks[0]
    x, y = run.benchmark.train_batch(task, torch.arange(len(task.train_idx)))
    fisher = empirical_fisher(s.model, x, y)
    for k in fisher:
        torch.testing.assert_close(s.importance[k], fisher[k], rtol=1e-4, atol=1e-10)
        torch.testing.assert_close(s.task_importance[k], fisher[k], rtol=1e-4, atol=1e-10)
    assert all(bool((v >= 0).all()) for v in s.importance.values())
    assert sum(float(v.sum()) for v in s.importance.values()) > 0
    assert quadratic_penalty(s.model, s.anchor, s.importance).item() == 0.0

    run.advance(batches=1)
    assert run.task == 1
    penalty = quadratic_penalty(s.model, s.anchor, s.importance).item()
    assert penalty > 0

    # observe() adds lambda * penalty to the cross-entropy, and steps on the gradient of that sum
    gen = torch.Generator().manual_seed(0)
    xb, yb = run.benchmark.train_batch(run.benchmark.tasks[1], torch.randint(0, 100, (10,), generator=gen))
    before = {k: p.detach().clone() for k, p in named_params(s.model).items()}
    s.model.zero_grad()
    expected = F.cross_entropy(s.model(xb), yb) + 50.0 * quadratic_penalty(s.model, s.anchor, s.importance)
    expected.backward()
    grads = {k: p.grad.clone() for k, p in named_params(s.model).items()}
    loss = s.observe(Batch(xb, yb, torch.full_like(yb, 1), xb))
    torch.testing.assert_close(loss, expected.detach())
    lr = run.config.lr
    for k, p in named_params(s.model).items():
        torch.testing.assert_close(p.detach(), before[k] - lr * grads[k])

    # online EWC: running Fisher = gamma * old + new at the next task end
    first = {k: v.clone() for k, v in s.importance.items()}
    run.advance(until="task")
    assert run.task == 1
    for k in first:
        torch.testing.assert_close(s.importance[k], 0.5 * first[k] + s.task_importance[k])
        assert not torch.equal(s.task_importance[k], first[k])


def test_ewc_fisher_samples_limits_the_data_used():
    run = small_run("ewc", params={"fisher_samples": 30})
    run.advance(until="task")
    s = run.strategy
    task = run.benchmark.tasks[0]
    x, y = run.benchmark.train_batch(task, torch.arange(30))
    fisher = empirical_fisher(s.model, x, y)
    for k in fisher:
        torch.testing.assert_close(s.task_importance[k], fisher[k], rtol=1e-4, atol=1e-10)


# ---------------------------------------------------------------------------------------------------
# SI


def test_si_path_integral_is_lr_g_squared_for_plain_sgd():
    lr = 0.1
    run = small_run("si", lr=lr, params={"c": 1.0, "xi": 0.5})
    s = run.strategy
    manual = {k: torch.zeros_like(v) for k, v in named_params(s.model).items()}
    real_step = s.optimizer_step

    def step_and_accumulate(loss):
        real_step(loss)
        for k, p in named_params(s.model).items():
            manual[k] += lr * p.grad**2

    s.optimizer_step = step_and_accumulate
    captured = {}
    real_end = s.end_task

    def end_task_capturing(task_index):
        captured["path_integral"] = {k: v.clone() for k, v in s.path_integral.items()}
        captured["start"] = {k: v.clone() for k, v in s.task_start.items()}
        captured["end"] = snapshot(s.model)
        captured["manual"] = {k: v.clone() for k, v in manual.items()}
        real_end(task_index)

    s.end_task = end_task_capturing

    run.advance(batches=7)
    for k in manual:
        # -g * (theta_new - theta_old) in float32 vs lr * g^2: equal up to rounding of the update
        torch.testing.assert_close(s.path_integral[k], manual[k], rtol=1e-3, atol=1e-9)
    assert sum(float(v.sum()) for v in manual.values()) > 0

    run.advance(until="task")
    pi, start, end = captured["path_integral"], captured["start"], captured["end"]
    for k in pi:
        torch.testing.assert_close(pi[k], captured["manual"][k], rtol=1e-3, atol=1e-9)
        # Omega = path integral / ((total change)^2 + xi)
        torch.testing.assert_close(s.importance[k], pi[k] / ((end[k] - start[k]) ** 2 + 0.5))
        assert bool((s.importance[k] >= 0).all())
        assert torch.equal(s.task_start[k], end[k])  # next task measured from here
        assert float(s.path_integral[k].abs().sum()) == 0.0  # reset for the next task

    # pixels that are 0 in every training image of the task (MNIST's border) never move their
    # first-layer weights: no gradient, no path integral, zero importance
    task = run.benchmark.tasks[0]
    x, _ = run.benchmark.train_batch(task, torch.arange(len(task.train_idx)))
    dead = (x.flatten(1) == 0).all(0)
    assert 50 < int(dead.sum()) < 784
    w = s.importance["hidden.0.weight"]
    assert torch.all(w[:, dead] == 0)
    assert torch.all(w[:, ~dead].sum(0) > 0)

    # importance accumulates over tasks
    first = {k: v.clone() for k, v in s.importance.items()}
    run.advance(until="task")
    for k in first:
        torch.testing.assert_close(s.importance[k], first[k] + s.task_importance[k])


# ---------------------------------------------------------------------------------------------------
# importance views


@pytest.mark.parametrize("strategy", ["ewc", "si"])
def test_task_end_report_importance_maps(strategy):
    run = small_run(strategy)
    events = run.advance(until="task")
    report = run.strategy.task_end_report()
    assert any(getattr(e, "strategy_report", None) is not None for e in events)
    for key in ("importance", "task_importance"):
        summary = getattr(report, key)
        unit_maps, pixel_map = summary.unit_maps, summary.pixel_map
        assert unit_maps.shape == (HIDDEN, 28, 28)
        assert pixel_map.shape == (28, 28)
        torch.testing.assert_close(pixel_map, unit_maps.sum(0))
        w = getattr(run.strategy, key)["hidden.0.weight"]
        torch.testing.assert_close(unit_maps, w.view(HIDDEN, 28, 28))
        assert set(summary.layers) == set(dict(run.strategy.model.named_parameters()))
        for name, layer in summary.layers.items():
            assert sum(layer.log10_counts) == getattr(run.strategy, key)[name].numel()
            assert len(layer.log10_edges) == len(layer.log10_counts) + 1
    # the run record keeps the same report (the views read it from there)
    assert isinstance(run.record.strategy_reports[-1], ImportanceReport)


def test_importance_summary_for_a_cnn_has_no_pixel_maps():
    model = SmallCNN((3, 32, 32), 10, width=4)
    importance = {k: torch.rand_like(v) for k, v in named_params(model).items()}
    summary = importance_summary(model, importance, (3, 32, 32))
    assert summary.unit_maps is None and summary.pixel_map is None
    assert set(summary.layers) == set(importance)
