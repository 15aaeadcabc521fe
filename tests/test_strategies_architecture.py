"""The architectural family's core mechanisms on hand-made cases (multi-head, PNN, PackNet, HAT and the
task inference they share), and each strategy end to end through the CLI."""

import pytest
import torch

from clcore import ConfigError, Run, make_config
from clcore.mechanics.task_aware import TaskAwareNet, parameter_count
from clcore.strategies.hat import annealed_scale, attention_regulariser, compensation_factors
from tests.cli_support import run_each

ARCHITECTURAL = ["multihead", "pnn", "packnet", "hat"]


def two_task_run(strategy, **kw):
    """Split MNIST as two tasks (0,1 | 2,3) of 60 examples, a 16-unit MLP, no live evaluation."""
    cfg = dict(
        strategy=strategy,
        classes="0,1|2,3",
        train_subset=60,
        batch_size=10,
        hidden=(16,),
        eval_every=0,
        eval_subset=50,
        seed=0,
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


def probe(run, task=0, n=64):
    x, _ = run.benchmark.test_set(run.benchmark.tasks[task], n)
    return x


def eval_logits(model, x, task):
    model.eval()
    with torch.no_grad():
        out = model.forward_task(x, task)
    model.train()
    return out


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def unchanged(module, before):
    return all(torch.equal(v, before[k]) for k, v in module.state_dict().items())


# ---------------------------------------------------------------------------------------------------
# task inference without the task id (all four models)


class FixedHeads(TaskAwareNet):
    """Two tasks (classes 0,1 and 2,3) whose heads give preset logits."""

    def __init__(self, outputs):
        super().__init__([[0, 1], [2, 3]], 4)
        self.outputs = outputs

    def head_output(self, x, task):
        return self.outputs[task]


def test_task_inference_takes_the_most_confident_seen_task():
    head_0 = torch.tensor([[4.0, 0.0], [0.1, 0.0]])  # sample 0: confident on task 0; sample 1: unsure
    head_1 = torch.tensor([[0.0, 1.0], [0.0, 5.0]])  # sample 1: confident on task 1 (class 3)
    net = FixedHeads([head_0, head_1])
    x = torch.zeros(2, 1)
    net.tasks_seen = 2
    assert net(x).argmax(1).tolist() == [0, 3]
    known = net.forward_task(x, 1)
    assert torch.isinf(known[:, :2]).all() and torch.equal(known[:, 2:], head_1)  # only task 1's classes
    net.tasks_seen = 1  # a task not trained yet is never a candidate
    assert net(x).argmax(1).tolist() == [0, 0]


# ---------------------------------------------------------------------------------------------------
# multi-head


def test_multihead_heads_own_their_tasks_classes_and_a_new_task_leaves_old_heads_alone():
    run = two_task_run("multihead")
    model = run.strategy.model
    assert [h.out_features for h in model.heads.heads] == [2, 2]
    run.advance(until="task")
    head_0, trunk = snapshot(model.heads.heads[0]), snapshot(model.backbone)
    logits = eval_logits(model, probe(run), 1)
    assert (
        torch.isinf(logits[:, :2]).all() and torch.isinf(logits[:, 4:]).all() and torch.isfinite(logits[:, 2:4]).all()
    )
    run.advance(until="task")
    assert unchanged(model.heads.heads[0], head_0)
    assert not unchanged(model.backbone, trunk)  # the shared trunk did learn task 2


# ---------------------------------------------------------------------------------------------------
# PNN


def test_pnn_columns_freeze_after_their_task_and_the_network_grows():
    run = two_task_run("pnn", classes="0,1|2,3|4,5")
    model = run.strategy.model
    counts, frozen = [], []
    for task in range(3):
        run.advance(until="task")
        counts.append(parameter_count(model))
        for column, before in frozen:
            assert unchanged(column, before)
        frozen.append((model.columns[task], snapshot(model.columns[task])))
    assert len(model.columns) == 3
    # column 1: 784x16+16 and 16x2+2, adapter into the head: alpha (1), V 16x16+16, U 16x2+2
    column_1 = (784 * 16 + 16) + (16 * 2 + 2) + 1 + (16 * 16 + 16) + (16 * 2 + 2)
    assert counts[1] - counts[0] == column_1
    assert counts[0] < counts[1] < counts[2]


def test_pnn_lateral_adapter_follows_eq_2():
    run = two_task_run("pnn")
    run.advance(until="task")
    run.advance(until="task")
    model = run.strategy.model
    x = probe(run, 1, 8).flatten(1)
    c0, c1 = model.columns
    h0 = torch.relu(c0.layers[0](x))
    h1 = torch.relu(c1.layers[0](x))
    adapter = c1.adapters[0]
    lateral = adapter.U(torch.relu(adapter.V(adapter.alpha[0] * h0)))
    expected = c1.layers[1](h1) + lateral
    assert torch.allclose(model.column_outputs(x, 2)[1], expected, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# PackNet


def test_packnet_prunes_the_fraction_and_keeps_earlier_tasks_to_the_bit():
    run = two_task_run("packnet", params={"prune": 0.5, "retrain_epochs": 1})
    model = run.strategy.model
    layer = model.layers[0]
    x = probe(run)
    run.advance(until="task")
    n = layer.owner.numel()
    assert int((layer.owner == 1).sum()) == n - n // 2  # half of the first task's weights kept
    assert torch.all(layer.linear.weight[layer.owner == 0] == 0)  # freed weights start task 2 at zero
    before = eval_logits(model, x, 0)
    free = layer.linear.weight.detach().clone()
    run.advance(until="task")
    assert torch.equal(eval_logits(model, x, 0), before)
    assert not torch.equal(layer.linear.weight, free)  # task 2 did train the freed weights
    assert int((layer.owner == 2).sum()) == (n // 2) - (n // 2) // 2


def test_packnet_rejects_a_prune_fraction_of_one_or_more():
    with pytest.raises(ConfigError, match="prune"):
        two_task_run("packnet", params={"prune": 1.0})


# ---------------------------------------------------------------------------------------------------
# HAT


def test_hat_regulariser_on_hand_made_masks():
    attention = [torch.tensor([1.0, 0.5, 0.0]), torch.tensor([0.25, 0.75])]
    assert attention_regulariser(attention, None).item() == pytest.approx(2.5 / 5)  # mean attention
    previous = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0])]
    # free units: layer 1 units 2, 3; layer 2 unit 1 -> (0.5 + 0 + 0.25) / 3
    assert attention_regulariser(attention, previous).item() == pytest.approx(0.75 / 3)


def test_hat_gradient_compensation_factors_and_annealing():
    layer_1, layer_2 = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.0, 0.0])
    (w1, b1), (w2, b2) = compensation_factors([layer_1, layer_2])
    assert torch.equal(w1, torch.tensor([[0.0], [1.0]])) and torch.equal(b1, torch.tensor([1.0 - 1.0, 1.0]))
    assert torch.equal(w2, 1 - torch.minimum(layer_2[:, None], layer_1[None, :]))
    assert torch.equal(w2, torch.tensor([[0.5, 1.0], [0.0, 1.0], [1.0, 1.0]]))
    assert torch.equal(b2, torch.tensor([0.5, 0.0, 1.0]))
    assert annealed_scale(1, 10, 400.0) == pytest.approx(1 / 400)
    assert annealed_scale(10, 10, 400.0) == pytest.approx(400.0)


def test_hat_keeps_earlier_tasks_while_a_new_task_trains():
    run = two_task_run("hat", params={"s_max": 400.0, "c": 0.75})
    model = run.strategy.model
    x = probe(run)
    run.advance(until="task")
    before = eval_logits(model, x, 0)
    shared = snapshot(model.layers)
    run.advance(until="task")
    assert torch.allclose(eval_logits(model, x, 0), before, atol=1e-4)
    assert not unchanged(model.layers, shared)  # the units task 1 left free did learn task 2


# ---------------------------------------------------------------------------------------------------
# every strategy through the CLI


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    return run_each(
        tmp_path_factory.mktemp("architecture_cli"),
        {name: [] for name in ARCHITECTURAL},
        ["--train-subset", "100", "--hidden", "32", "--classes", "0,1|2,3", "--eval-every", "0"],
    )


@pytest.mark.parametrize("name", ARCHITECTURAL)
def test_cli_runs_each_strategy(cli_runs, name):
    code, stderr, result = cli_runs[name]
    assert code == 0, stderr
    assert result["status"] == "finished" and result["config"]["strategy"] == name
    assert len(result["acc_matrix_task_il"]) == 2
    assert min(result["acc_matrix_task_il"][-1]) > 75  # task-aware: far above a two-class task's 50% chance
    report = result["strategy_reports"][-1]
    assert set(report) >= {"capacity", "param_count", "baseline_params"}
