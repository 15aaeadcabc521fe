"""DEN's mechanisms (clcore/strategies/den.py) on small runs: it grows only when a task's loss after selective
retraining is above tau; group sparsity removes useless new units; drifted units are duplicated with the
original restored; selective retraining trains only the subnetwork reached from the new head; timestamps keep
later units away from earlier tasks; the grown network's report survives the results JSON."""

from __future__ import annotations

import pytest
import torch

from clcore import ConfigError, Run, make_config
from clcore.strategies.den import ExpandableMLP
from tests.test_strategies_architecture import eval_logits, probe, two_task_run

HIDDEN = (16, 12)


def den_run(**params):
    return two_task_run("den", hidden=HIDDEN, params=params)


def den_after_first_task(**params) -> Run:
    """A two-task DEN run stopped at the end of task 1."""
    run = den_run(**params)
    run.advance(until="task")
    assert len(run.record.strategy_reports) == 1
    return run


def test_grows_only_when_the_loss_stays_above_the_threshold():
    never = den_run(loss_threshold=100.0)
    never.run_to_end()
    always = den_run(loss_threshold=0.0, group_l1=0.0, l1=0.0)
    always.run_to_end()
    first, second = never.record.strategy_reports
    assert not second.expanded and second.loss < 100.0
    assert first.units == second.units == list(HIDDEN) and second.added == [0, 0] and second.duplicated == [0, 0]
    assert second.param_count == first.param_count + 2 * (HIDDEN[-1] + 1)  # only task 2's head is new
    grown = always.record.strategy_reports[1]
    assert grown.expanded and grown.loss > 0.0
    assert grown.added == [10, 10]  # k units a layer, none pruned without group sparsity
    assert grown.units == [h + 10 + d for h, d in zip(HIDDEN, grown.duplicated)]


def test_the_threshold_compares_the_measured_loss():
    run = den_run(loss_threshold=100.0)
    run.run_to_end()
    loss = run.record.strategy_reports[1].loss
    below = den_run(loss_threshold=loss * 1.01)
    below.run_to_end()
    above = den_run(loss_threshold=loss * 0.99)
    above.run_to_end()
    assert not below.record.strategy_reports[1].expanded and above.record.strategy_reports[1].expanded


def test_group_sparsity_removes_the_new_units_it_zeroes():
    run = den_run(loss_threshold=0.0, group_l1=10.0)  # a shrink larger than any unit's norm: all new units go
    run.run_to_end()
    report = run.record.strategy_reports[1]
    assert report.added == [0, 0] and report.pruned == [10, 10]
    model = run.strategy.model
    assert model.sizes() == [h + d for h, d in zip(HIDDEN, report.duplicated)]


def test_drifted_units_are_duplicated_and_the_originals_restored():
    run = den_run(loss_threshold=0.0, split_threshold=0.0, group_l1=0.0)
    run.run_to_end()
    strategy = run.strategy  # its `previous`: the weights at task 2's start
    report = run.record.strategy_reports[1]
    assert report.duplicated == [10, 10]  # every old unit drifted: at most k are split, the farthest
    model = strategy.model
    for i, (old_w, old_b) in enumerate(strategy.previous):
        drifted = strategy_duplicated_originals(model, i, old_w)
        assert len(drifted) == 10
        # the originals hold their values from task 2's start, frozen through the retraining after the split
        assert torch.equal(model.weights[i][drifted][:, : old_w.shape[1]], old_w[drifted])
        assert torch.equal(model.biases[i][drifted], old_b[drifted])


def strategy_duplicated_originals(model: ExpandableMLP, layer: int, old_w: torch.Tensor) -> torch.Tensor:
    """Old units of `layer` whose incoming weights equal their task-start values (the restored originals)."""
    now = model.weights[layer][: old_w.shape[0], : old_w.shape[1]]
    return (now == old_w).all(1).nonzero().flatten()


def test_split_happens_only_above_sigma():
    run = den_run(loss_threshold=0.0, split_threshold=1e4)
    run.run_to_end()
    assert run.record.strategy_reports[1].duplicated == [0, 0]


def test_selective_retraining_trains_only_the_reached_subnetwork():
    run = den_after_first_task(loss_threshold=100.0)
    run.advance(batches=1)  # task 2 begins: its head trains alone
    strategy, model = run.strategy, run.strategy.model
    with torch.no_grad():  # make the new head read only the top layer's first three units
        head = model.head_weights[1]
        head[:, 3:] = 0.0
        model.weights[1][:, 5:] = 0.0  # and those read only the first five units below
    strategy._retrain_subnetwork(1)
    assert strategy.selected == [5, 3]
    before = [w.detach().clone() for w in model.weights]
    x, y = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(10, device=run.device))
    strategy._step(x, y, 1)
    changed = [(w != b).any(1) for w, b in zip(model.weights, before)]
    assert changed[1][3:].sum() == 0 and changed[0][5:].sum() == 0
    assert changed[1][:3].any() or changed[0][:5].any()


def test_timestamps_keep_later_units_away_from_earlier_tasks():
    run = den_after_first_task(loss_threshold=0.0)
    x = probe(run, task=0)
    before = eval_logits(run.strategy.model, x, 0)
    run.run_to_end()
    model = run.strategy.model
    assert model.stamps[0] == list(HIDDEN) and model.sizes() == model.stamps[1] and model.sizes() != list(HIDDEN)
    after, second = eval_logits(model, x, 0), eval_logits(model, x, 1)
    assert after.shape == before.shape
    # task 1 reads only the units it had: whatever the units born in task 2 hold, its logits stay the same
    with torch.no_grad():
        for i, n in enumerate(HIDDEN):
            model.weights[i][n:] = 5.0
            model.biases[i][n:] = 5.0
            if i > 0:
                model.weights[i][:, HIDDEN[i - 1] :] = 5.0
    assert torch.equal(eval_logits(model, x, 0), after)
    assert not torch.equal(eval_logits(model, x, 1), second)  # task 2 reads them


@pytest.mark.parametrize("scenario", ["task-il", "class-il"])
def test_runs_in_both_scenarios_and_reports_growth(scenario):
    run = den_run(loss_threshold=0.0) if scenario == "class-il" else two_task_run("den", scenario="task-il")
    result = run.run_to_end()
    assert result["status"] == "finished", result["message"]
    reports = run.record.strategy_reports
    assert [r.param_count for r in reports] == sorted(r.param_count for r in reports)


def test_needs_the_mlp():
    with pytest.raises(ConfigError) as error:
        Run(make_config(strategy="den", model="cnn", classes="0,1|2,3", train_subset=20))
    assert error.value.code == "needs_mlp"
