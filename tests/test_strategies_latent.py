"""Latent & consolidation strategies: the models' block cuts, latent replay's frozen lower network and
latent buffer, CWR*'s weighted consolidation, AR1's combination of the three, Progress & Compress's
compress phase and online-EWC Fisher; each through the CLI too."""

import math

import pytest
import torch

from clcore import ConfigError, Run, make_config
from clcore.mechanics.cwr import ConsolidatedHead, consolidate
from clcore.mechanics.importance import online_sum
from clcore.mechanics.latent import freeze_lower, keep_frozen_in_eval
from clcore.models import MLP, ResNet18, SmallCNN, reinitialised
from clcore.strategies import Batch
from tests.cli_support import run_each

SMALL = dict(train_subset=60, batch_size=10, hidden=(16, 16), eval_every=0, eval_subset=20, seed=0)


def small_run(strategy, **kw):
    return Run(make_config(strategy=strategy, **{**SMALL, **kw}))


def train_task(run):
    """Advance to the end of the current task."""
    run.advance(until="task")


# ---------------------------------------------------------------------------------------------------
# models cut into blocks


@pytest.mark.parametrize(
    "build",
    [
        lambda: MLP((1, 6, 6), 4, hidden=(5, 7)),
        lambda: SmallCNN((1, 8, 8), 4, width=4),
        lambda: ResNet18((3, 8, 8), 4, width=4),
    ],
)
def test_every_cut_of_the_block_chain_reproduces_forward(build):
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(
        3, *((1, 6, 6) if isinstance(model, MLP) else (1, 8, 8) if isinstance(model, SmallCNN) else (3, 8, 8))
    )
    expected = model(x)
    for k in range(model.depth + 1):
        torch.testing.assert_close(model.head(model.latent(x, k), k), expected)
    torch.testing.assert_close(model.latent(x, model.depth), model.features(x))
    owned = {id(p) for m in model.lower_modules(model.depth) for p in m.parameters()}
    assert owned == {id(p) for p in model.parameters()} - {id(p) for p in model.classifier.parameters()}


def test_reinitialised_copy_is_fresh_and_deterministic():
    model = MLP((1, 4, 4), 3, hidden=(5,))
    a, b, c = reinitialised(model, 1), reinitialised(model, 1), reinitialised(model, 2)
    assert torch.equal(a.hidden[0].weight, b.hidden[0].weight)
    assert not torch.equal(a.hidden[0].weight, c.hidden[0].weight)
    assert not torch.equal(a.hidden[0].weight, model.hidden[0].weight)
    assert a.hidden[0].bias.abs().sum() == 0  # the MLP's own init: Xavier weights, zero biases


# ---------------------------------------------------------------------------------------------------
# latent replay


def test_latent_replay_freezes_lower_layers_and_stores_their_outputs():
    run = small_run("latent_replay", buffer_size=40, params={"latent_layer": 1})
    s, model = run.strategy, run.strategy.model
    first = [p.detach().clone() for p in model.hidden[0].parameters()]
    train_task(run)
    assert not torch.equal(model.hidden[0].weight, first[0])  # the first task trains everything
    frozen = [p.detach().clone() for p in model.hidden[0].parameters()]
    assert not any(p.requires_grad for p in model.hidden[0].parameters())
    optimised = {id(p) for group in s.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in [*model.hidden[1].parameters(), *model.classifier.parameters()]}

    # the buffer holds the frozen first layer's activations of the first task's inputs
    buf = s.buffer
    assert len(buf) == 40 and buf.x.shape == (40, 16) and set(buf.task.tolist()) == {0}
    x_all, y_all = run.benchmark.train_batch(run.benchmark.tasks[0], torch.arange(60))
    latents = model.latent(x_all, 1).detach()
    for h, y in zip(buf.x, buf.y):
        match = (latents - h).abs().amax(1) < 1e-6
        assert match.any() and y_all[match][0] == y

    upper = [p.detach().clone() for p in model.hidden[1].parameters()]
    train_task(run)
    for p, before in zip(model.hidden[0].parameters(), frozen):
        assert torch.equal(p, before)  # never changes again
    assert not torch.equal(model.hidden[1].weight, upper[0])  # above the cut keeps learning
    assert set(buf.task.tolist()) == {0, 1}
    # the second task's stored activations are the frozen layer's output too
    stored = buf.x[buf.task == 1]
    x2, _ = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(60))
    latents2 = model.latent(x2, 1).detach()
    assert all(((latents2 - h).abs().amax(1) < 1e-6).any() for h in stored)

    report = s.task_end_report()
    assert [r.trainable for r in report.layers] == [0, 16 * 16 + 16, 16 * 10 + 10]
    assert report.memory.latent_bytes == 40 * 16 * 4
    assert report.memory.raw_bytes == 40 * 28 * 28 * 4


def test_latent_replay_step_replays_stored_activations():
    run = small_run("latent_replay", buffer_size=30, replay_batch_size=7)
    train_task(run)
    s = run.strategy
    x, y = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(10))
    batch = Batch(x, y, torch.full_like(y, 1), x)
    logits, labels, tasks = s.forward_batch(batch)
    assert logits.shape == (17, 10) and tasks.tolist().count(0) == 7 and labels[:10].tolist() == y.tolist()


def test_latent_layer_deeper_than_the_model_is_rejected():
    with pytest.raises(ConfigError, match="latent_layer"):
        small_run("latent_replay", buffer_size=10, params={"latent_layer": 3})
    with pytest.raises(ConfigError, match="latent_layer"):
        make_config(strategy="latent_replay", buffer_size=10, params={"latent_layer": -1})


def test_frozen_batch_norm_keeps_its_statistics_after_evaluation_resets_train_mode():
    torch.manual_seed(0)
    model = ResNet18((3, 8, 8), 4, width=4)
    optimizer = freeze_lower(model, 1, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {id(p) for p in model.parameters()} - {
        id(model.conv1.weight),
        id(model.bn1.weight),
        id(model.bn1.bias),
    }
    assert optimizer.defaults["momentum"] == 0.9
    model.eval(), model.train()  # what clcore.runs.evaluation does around every evaluation
    keep_frozen_in_eval(model, 1)
    assert not model.bn1.training and model.layers[0].bn1.training
    stats = model.bn1.running_mean.clone()
    model.latent(torch.rand(5, 3, 8, 8) * 3, 1)
    assert torch.equal(model.bn1.running_mean, stats)


# ---------------------------------------------------------------------------------------------------
# CWR*


def test_cwr_consolidation_formula_on_hand_made_weights():
    cw = torch.tensor([[1.0, 2.0], [0.0, 0.0], [4.0, -2.0], [7.0, 7.0]])
    tw = torch.tensor([[9.0, 9.0], [3.0, 1.0], [5.0, 3.0], [9.0, 9.0]])
    trained = torch.tensor([False, True, True, False])
    past = torch.tensor([10.0, 0.0, 50.0, 3.0])
    cur = torch.tensor([0.0, 20.0, 200.0, 0.0])
    out = consolidate(cw, tw, trained, past, cur)
    avg = (3 + 1 + 5 + 3) / 4  # over the trained classes' temporary weights
    assert torch.equal(out[0], cw[0]) and torch.equal(out[3], cw[3])  # untouched classes keep cw
    torch.testing.assert_close(out[1], torch.tensor([3.0, 1.0]) - avg)  # first time: tw - avg
    w_past = math.sqrt(50 / 200)
    expected = (torch.tensor([4.0, -2.0]) * w_past + (torch.tensor([5.0, 3.0]) - avg)) / (w_past + 1)
    torch.testing.assert_close(out[2], expected)
    # the form with both weights, wpast = sqrt(past), wcur = sqrt(cur), is the same number
    both = (torch.tensor([4.0, -2.0]) * math.sqrt(50) + (torch.tensor([5.0, 3.0]) - avg) * math.sqrt(200)) / (
        math.sqrt(50) + math.sqrt(200)
    )
    torch.testing.assert_close(out[2], both)


def test_cwr_head_resets_loads_and_consolidates_with_counts():
    layer = torch.nn.Linear(2, 3)
    head = ConsolidatedHead(layer)
    head.begin(torch.tensor([4, 4, 0]))
    assert layer.weight.abs().sum() == 0 and layer.bias.abs().sum() == 0  # tw reset to zero
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 3.0], [3.0, 1.0], [0.0, 0.0]]))
        layer.bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
    head.end()
    torch.testing.assert_close(layer.weight, torch.tensor([[-1.0, 1.0], [1.0, -1.0], [0.0, 0.0]]))
    torch.testing.assert_close(layer.bias, torch.tensor([1.0, -1.0, 0.0]))
    assert head.past.tolist() == [4, 4, 0]
    head.begin(torch.tensor([0, 12, 6]))  # class 1 again (starts from cw), class 2 new
    torch.testing.assert_close(layer.weight, torch.tensor([[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]]))
    assert head.mask(torch.zeros(1, 3)).isinf().tolist() == [[True, False, False]]
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 3.0], [1.0, 1.0]]))
    w_past = math.sqrt(4 / 12)
    expected_1 = (torch.tensor([1.0, -1.0]) * w_past + torch.tensor([1.0, 1.0])) / (w_past + 1)
    torch.testing.assert_close(head.consolidated()["weight"][1], expected_1)  # preview = what end() gives
    head.end()
    torch.testing.assert_close(layer.weight[1], expected_1)
    torch.testing.assert_close(layer.weight[2], torch.tensor([-1.0, -1.0]))
    torch.testing.assert_close(layer.weight[0], torch.tensor([-1.0, 1.0]))


def test_cwr_star_freezes_everything_below_the_head_and_evaluates_consolidated_weights():
    run = small_run("cwr_star")
    s, model = run.strategy, run.strategy.model
    train_task(run)
    assert all(not p.requires_grad for p in model.hidden.parameters())
    hidden = [p.detach().clone() for p in model.hidden.parameters()]
    cw_task1 = model.classifier.weight.detach().clone()
    run.advance(batches=3)
    for p, before in zip(model.hidden.parameters(), hidden):
        assert torch.equal(p, before)
    # only the second task's classes (2, 3) have temporary weights; the others are zero
    w = model.classifier.weight.detach()
    assert w[[0, 1, 4, 5, 6, 7, 8, 9]].abs().sum() == 0 and w[[2, 3]].abs().sum() > 0
    # evaluation uses cw (the first task's classes keep theirs) and previews the new classes
    x = torch.rand(4, 1, 28, 28)
    preview = s.evaluation_models()["student"]
    weights = s.head.consolidated()["weight"]
    torch.testing.assert_close(weights[[0, 1]], cw_task1[[0, 1]])
    torch.testing.assert_close(
        preview(x), torch.nn.functional.linear(model.features(x), weights, s.head.consolidated()["bias"])
    )
    result = run.run_to_end()
    assert result["status"] == "finished"
    seen = sum(torch.bincount(run.benchmark.data.y_train[t.train_idx], minlength=10) for t in run.benchmark.tasks)
    assert s.head.past.tolist() == seen.tolist()  # every example counted once, per class


def test_cwr_star_without_freeze_features_trains_the_features_and_consolidates_the_head():
    run = small_run("cwr_star", params={"freeze_features": False})
    s, model = run.strategy, run.strategy.model
    train_task(run)
    assert all(p.requires_grad for p in model.parameters())
    hidden = [p.detach().clone() for p in model.hidden.parameters()]
    cw_task1 = s.head.consolidated()["weight"][[0, 1]].clone()
    run.advance(batches=3)
    assert all(not torch.equal(p, before) for p, before in zip(model.hidden.parameters(), hidden))
    w = model.classifier.weight.detach()  # still CWR*'s head: temporary weights of the task's classes only
    assert w[[0, 1, 4, 5, 6, 7, 8, 9]].abs().sum() == 0 and w[[2, 3]].abs().sum() > 0
    torch.testing.assert_close(s.head.consolidated()["weight"][[0, 1]], cw_task1)


# ---------------------------------------------------------------------------------------------------
# AR1


def test_ar1_combines_cwr_head_si_on_the_upper_layers_and_latent_replay():
    run = small_run("ar1", buffer_size=30, replay_batch_size=10, params={"latent_layer": 1, "c": 5.0})
    s, model = run.strategy, run.strategy.model
    assert not any(name.startswith("classifier") for name in s.si.params)  # CWR* handles the head
    train_task(run)
    assert not any(p.requires_grad for p in model.hidden[0].parameters())
    assert s.si.importance["hidden.1.weight"].abs().sum() > 0
    assert len(s.buffer) == 30 and s.buffer.x.shape[1] == 16  # latent activations
    run.advance(batches=1)  # the second task begins
    # the second task's head trains its own classes plus the replayed ones, counts included
    task2 = run.benchmark.data.y_train[run.benchmark.tasks[1].train_idx]
    expected_counts = torch.bincount(s.buffer.y, minlength=10) + torch.bincount(task2, minlength=10)
    assert s.head.cur.tolist() == expected_counts.tolist()
    assert s.head.active.tolist() == [c in (0, 1, 2, 3) for c in range(10)]

    # one step: cross-entropy over the active classes of current + replayed examples, plus c * SI penalty
    x, y = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(10))
    batch = Batch(x, y, torch.full_like(y, 1), x)
    gen_state = s.generator.get_state()
    logits, labels, tasks = s.forward_batch(batch)
    s.generator.set_state(gen_state)
    assert len(labels) == 20 and set(labels[10:].tolist()) <= {0, 1}
    with torch.no_grad():
        model.hidden[1].weight.add_(0.05)  # away from the anchor: the penalty is positive
    penalty = s.si.penalty()
    assert penalty.item() > 0
    expected = torch.nn.functional.cross_entropy(s.head.mask(s.forward_batch(batch)[0]), labels) + 5.0 * penalty
    s.generator.set_state(gen_state)
    loss = s.loss(*s.forward_batch(batch))
    torch.testing.assert_close(loss, expected)
    frozen = model.hidden[0].weight.detach().clone()
    s.step(loss)
    assert torch.equal(model.hidden[0].weight, frozen)
    assert s.si.path_integral["hidden.1.weight"].abs().sum() > 0
    assert s.si.path_integral["hidden.0.weight"].abs().sum() == 0  # frozen: nothing to integrate

    result = run.run_to_end()
    assert result["status"] == "finished"
    assert set(s.buffer.task.tolist()) == set(range(5))
    report = s.task_end_report()
    assert report.memory is not None and report.importance.unit_maps is not None and report.task_importance.layers


# ---------------------------------------------------------------------------------------------------
# Progress & Compress


def test_online_fisher_is_decayed_sum_on_hand_made_values():
    f1 = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([4.0])}
    f2 = {"w": torch.tensor([0.5, 0.0]), "b": torch.tensor([1.0])}
    running = online_sum(None, f1, 0.5)
    assert torch.equal(running["w"], f1["w"])
    running = online_sum(running, f2, 0.5)
    torch.testing.assert_close(running["w"], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(running["b"], torch.tensor([3.0]))


def test_progress_compress_compress_distils_active_into_kb_and_keeps_running_fisher():
    run = small_run("progress_compress", params={"gamma": 0.5, "ewc_lambda": 10.0, "compress_epochs": 3})
    s = run.strategy
    assert set(s.evaluation_models()) == {"knowledge_base", "active"}
    kb_before = [p.detach().clone() for p in s.model.parameters()]
    run.advance(batches=6)
    for p, before in zip(s.model.parameters(), kb_before):
        assert torch.equal(p, before)  # progress trains only the active column
    run.advance(until="task")
    before, after = s.compress_kl[0]
    assert after < 0.7 * before  # the compress phase pulls the KB onto the active column
    first_fisher = {k: v.clone() for k, v in s.importance.items()}
    first_active = s.active
    run.advance(batches=6)  # the second task's progress phase, up to its compress
    assert s.active is not first_active  # re-initialised for the new task
    x, _ = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(60))
    with torch.no_grad():
        targets = torch.softmax(s.active(x), 1)  # with the KB as it is before the compress
    run.advance(until="task")
    for k, v in s.importance.items():
        torch.testing.assert_close(v, 0.5 * first_fisher[k] + s.task_importance[k])
    before, after = s.compress_kl[1]
    assert after < before
    with torch.no_grad():  # the KL after compress, recomputed independently
        kl = torch.nn.functional.kl_div(torch.log_softmax(s.model(x), 1), targets, reduction="batchmean")
    assert abs(kl.item() - after) < 1e-4


def test_progress_compress_lateral_adaptors_read_the_knowledge_base():
    run = small_run("progress_compress")
    s = run.strategy
    x = torch.rand(3, 1, 28, 28)
    out = s.active(x)
    with torch.no_grad():
        s.model.hidden[0].weight.mul_(2.0)
    assert not torch.allclose(s.active(x), out)  # the KB feeds the active column
    plain = small_run("progress_compress", params={"lateral": False}).strategy
    assert plain.active.adaptors is None
    with pytest.raises(ConfigError, match="lateral"):
        small_run("progress_compress", model="cnn")


# ---------------------------------------------------------------------------------------------------
# the command line, end to end

CLI_RUNS = {
    "latent_replay": ["--buffer", "30"],
    "cwr_star": [],
    "ar1": ["--buffer", "30", "--param", "c=1.0"],
    "progress_compress": ["--param", "compress_epochs=2"],
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    return run_each(
        tmp_path_factory.mktemp("cli"),
        CLI_RUNS,
        ["--train-subset", "40", "--hidden", "32", "--tasks", "2", "--eval-every", "0"],
    )


@pytest.mark.parametrize("strategy", list(CLI_RUNS))
def test_cli_runs_each_strategy(cli_results, strategy):
    returncode, stderr, result = cli_results[strategy]
    assert returncode == 0, stderr
    assert result["status"] == "finished" and result["config"]["strategy"] == strategy
    assert len(result["acc_matrix"]) == 2
    if strategy == "progress_compress":
        assert set(result["per_model"]) == {"knowledge_base", "active"}
