"""Generative replay (DGR), generative negative replay (GNR) and DualNet: their core mechanisms on
hand-made cases, and each strategy through the CLI."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clcore import Run, make_config
from clcore.mechanics.vae import VAE
from clcore.strategies import Batch
from clcore.strategies.ar1 import AR1
from clcore.strategies.dualnet import barlow_twins_loss
from clcore.strategies.generative_negative_replay import negative_replay_loss
from tests.cli_support import run_cli, run_each


def tiny(strategy, **kw):
    cfg = dict(
        strategy=strategy,
        train_subset=60,
        batch_size=10,
        hidden=(32,),
        eval_every=0,
        eval_subset=20,
        seed=0,
        classes="0,1|2,3|4,5",
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


def state(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------------
# the VAE


def test_vae_reconstruction_loss_falls_on_a_tiny_data_set():
    torch.manual_seed(0)
    # four 6x6 binary patterns (bars and a cross), repeated: an easy set to memorise
    patterns = torch.zeros(4, 1, 6, 6)
    patterns[0, 0, 2, :] = 1
    patterns[1, 0, :, 3] = 1
    patterns[2, 0].fill_diagonal_(1)
    patterns[3, 0, 2, :] = patterns[3, 0, :, 3] = 1
    data = patterns.repeat(4, 1, 1, 1)
    vae = VAE((1, 6, 6), (0.0,), (1.0,), hidden=32, latent=4)
    noise = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(vae.parameters(), lr=0.01)

    def reconstruction():
        return vae.negative_elbo(data, noise)[0].mean().item()

    first = reconstruction()
    for _ in range(150):
        rec, kl = vae.negative_elbo(data, noise)
        optimizer.zero_grad()
        (rec + kl).mean().backward()
        optimizer.step()
    assert reconstruction() < 0.3 * first


def test_vae_models_the_classifiers_normalised_input_space():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    vae = VAE((3, 4, 4), mean, std, hidden=8, latent=2)
    pixels = torch.rand(5, 3, 4, 4)
    x = vae.from_pixels(pixels)
    assert torch.allclose(x[:, 1], (pixels[:, 1] - 0.4) / 0.25)
    assert torch.allclose(vae.to_pixels(x), pixels, atol=1e-6)
    # samples come out normalised: within the images of pixel values 0 and 1 per channel
    samples = vae.sample(50, torch.Generator().manual_seed(0))
    low = vae.from_pixels(torch.zeros(1, 3, 1, 1))
    high = vae.from_pixels(torch.ones(1, 3, 1, 1))
    assert samples.shape == (50, 3, 4, 4)
    assert (samples >= low - 1e-6).all() and (samples <= high + 1e-6).all()


def test_on_permuted_mnist_the_vae_learns_the_permuted_inputs_the_solver_sees():
    run = tiny("generative_replay", benchmark="permuted-mnist", classes=None, n_tasks=2)
    vae_inputs, solver_inputs = [], []
    real = run.strategy.memory.vae.negative_elbo
    run.strategy.memory.vae.negative_elbo = lambda x, g: vae_inputs.append(x.clone()) or real(x, g)
    run.strategy.model.register_forward_pre_hook(lambda module, args: solver_inputs.append(args[0].clone()))
    run.advance(batches=1)
    assert torch.equal(vae_inputs[0], solver_inputs[-1])  # the training batch (the first forward was evaluation)
    task = run.benchmark.tasks[0]
    permuted = run.benchmark.inputs(task, run.benchmark.data.x_train[task.train_idx])
    rows = (permuted.flatten(1)[:, None, :] == vae_inputs[0].flatten(1)[None]).all(2).any(0)
    assert rows.all()  # every training input is a permuted image of the task


# ---------------------------------------------------------------------------------------------------
# generative replay


class _ThresholdSolver(nn.Module):
    """Class 1 for bright inputs, class 0 for dark ones; class 2 (not an old class) always scores highest."""

    def forward(self, x):
        brightness = x.flatten(1).mean(1)
        threshold = brightness.median()
        logits = torch.full((len(x), 10), -5.0)
        logits[:, 0] = threshold - brightness
        logits[:, 1] = brightness - threshold
        logits[:, 2] = 100.0
        return logits


def test_replay_labels_are_the_previous_solvers_argmax_over_old_classes():
    run = tiny("generative_replay")
    run.advance(until="task")
    run.advance(batches=1)  # task 2 (classes 2, 3) has begun: the frozen copies exist
    strategy = run.strategy
    assert strategy.current_task == 1 and strategy.old_classes.tolist() == [True, True] + [False] * 8
    strategy.previous_solver = _ThresholdSolver()
    state_before = strategy.generator.get_state()
    x, labels, tasks, _ = strategy.generate_replay(40)
    brightness = x.flatten(1).mean(1)
    expected = (brightness > brightness.median()).long()
    assert torch.equal(labels, expected)  # class 2 scores highest but is not an old class
    assert set(labels.tolist()) == {0, 1} and tasks.tolist() == [0] * 40
    # the inputs are the frozen generator's samples, drawn from the run's generator
    strategy.generator.set_state(state_before)
    assert torch.equal(x, strategy.memory.previous_vae.sample(40, strategy.generator))


@pytest.mark.parametrize("scenario", ["class-il", "task-il"])
def test_distill_replays_the_old_solvers_softened_outputs_over_the_old_classes(scenario):
    run = tiny("generative_replay", params={"distill": True}, classes="0,1|2,3|4,5", scenario=scenario)
    run.advance(until="task")
    run.advance(until="task")
    run.advance(batches=1)  # task 3 (classes 4, 5): the old classes are 0-3
    strategy = run.strategy
    replay = strategy.generate_replay(30)
    x, labels, tasks, teacher = replay
    student = torch.randn(30, 10, requires_grad=True)
    loss = strategy.replay_loss(student, replay)
    # the KL at T = 2 over the classes the hard label would compete among: old ones (and the label's task's)
    competing = torch.zeros(30, 10, dtype=torch.bool)
    for i, task in enumerate(tasks.tolist()):
        competing[
            i, [0, 1] if scenario == "task-il" and task == 0 else [2, 3] if scenario == "task-il" else [0, 1, 2, 3]
        ] = True
    p_teacher = torch.stack([F.softmax(t[c] / 2, 0) for t, c in zip(teacher, competing)])
    log_student = torch.stack([F.log_softmax(s[c] / 2, 0) for s, c in zip(student, competing)])
    expected = (p_teacher * (p_teacher.log() - log_student)).sum(1).mean() * 4
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert student.grad[~competing].abs().max() < 1e-6  # the current and unseen classes get no push
    assert set(tasks.tolist()) <= {0, 1} and torch.isfinite(student.grad).all()
    assert run.run_to_end()["status"] == "finished"


def test_frozen_generator_and_solver_do_not_change_during_a_task():
    run = tiny("generative_replay")
    run.advance(until="task")
    run.advance(batches=1)
    strategy = run.strategy
    memory = strategy.memory
    assert memory.previous_vae is not memory.vae and strategy.previous_solver is not strategy.model
    frozen_vae, frozen_solver = state(memory.previous_vae), state(strategy.previous_solver)
    live_vae, live_solver = state(strategy.memory.vae), state(strategy.model)
    run.advance(batches=4)
    assert same(frozen_vae, state(memory.previous_vae)) and same(frozen_solver, state(strategy.previous_solver))
    assert not same(live_vae, state(strategy.memory.vae)) and not same(live_solver, state(strategy.model))
    # the next task's copies are the models as they were at the end of this one
    run.advance(until="task")
    end_of_task = state(strategy.memory.vae)
    run.advance(batches=1)
    assert same(end_of_task, state(strategy.memory.previous_vae))


def test_mixing_ratio_defaults_to_one_over_tasks_seen():
    run = tiny("generative_replay")
    assert run.strategy.new_data_ratio() == 1.0
    run.advance(until="task")
    run.advance(batches=1)
    assert run.strategy.new_data_ratio() == 0.5
    fixed = tiny("generative_replay", params={"new_data_ratio": 0.3})
    fixed.advance(batches=1)
    assert fixed.strategy.new_data_ratio() == 0.3


def test_gallery_holds_generated_images_per_seen_class():
    run = tiny("generative_replay")
    run.advance(until="task")
    gallery = run.record.strategy_reports[0].gallery
    assert gallery.step == run.step
    assert set(gallery.classes) <= {0, 1} and len(gallery.images) == len(gallery.classes) <= 4
    image = torch.tensor(gallery.images[0])
    assert image.shape == (28, 28) and image.min() >= 0 and image.max() <= 255


# ---------------------------------------------------------------------------------------------------
# generative negative replay


def test_negative_replay_gradient_only_pushes_current_classes_down():
    logits = torch.tensor(
        [[2.0, 0.5, -1.0, 0.3, 1.5, 0.2], [0.1, 3.0, 0.0, -0.5, 0.4, 2.2], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]],
        requires_grad=True,
    )
    labels = torch.tensor([0, 1, 3])  # generated samples labelled with old classes
    current = torch.tensor([False, False, False, False, True, True])
    negative_replay_loss(logits, labels, current).backward()
    grad = logits.grad
    assert torch.all(grad[:, :4] == 0)  # old classes, the labels included: exactly untouched
    expected = F.softmax(logits.detach(), 1)[:, 4:] / len(labels)  # plain cross-entropy's gradient there
    assert torch.allclose(grad[:, 4:], expected) and torch.all(grad[:, 4:] > 0)
    # the loss value is ordinary cross-entropy
    assert torch.isclose(negative_replay_loss(logits, labels, current), F.cross_entropy(logits, labels))


def test_negative_replay_with_every_class_current_never_raises_the_label():
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = torch.tensor([3, 3, 7, 0])
    negative_replay_loss(logits, labels, torch.ones(10, dtype=torch.bool)).backward()
    label_grad = logits.grad.gather(1, labels[:, None])
    assert torch.all(label_grad == 0)
    others = logits.grad.clone().scatter_(1, labels[:, None], 1.0)
    assert torch.all(others > 0)


def _gnr_in_second_task(**kw):
    run = tiny("generative_negative_replay", **kw)
    run.advance(until="task")
    run.advance(batches=1)  # task 2 (classes 2, 3) has begun: the frozen generator exists
    return run


def test_gnr_is_ar1_with_a_generator_instead_of_a_buffer():
    run = _gnr_in_second_task()
    strategy = run.strategy
    assert isinstance(strategy, AR1) and strategy.buffer is None
    # AR1*'s pieces: the first hidden layer is frozen after the first task, SI anchors the layers above
    assert not any(p.requires_grad for p in strategy.model.hidden[0].parameters())
    assert strategy.si.importance is not None  # SI's importance of the first task was consolidated
    # CWR*'s head trains only the task's own classes: the replayed ones are not made active
    assert strategy.head.active.tolist() == [False, False, True, True] + [False] * 6


def test_gnr_negatives_push_only_the_current_classes_of_the_consolidated_layer():
    run = _gnr_in_second_task()
    strategy = run.strategy
    generated = strategy.memory.sample(16, strategy.generator)
    # the logits trained on are those of the model GNR is evaluated with (CWR*'s consolidated layer)
    consolidated = strategy.consolidated_model(generated)
    logits = strategy.seen_logits(strategy.model.features(generated))
    assert torch.allclose(logits[:, :4], consolidated[:, :4], atol=1e-5)
    assert torch.all(torch.isinf(logits[:, 4:]))  # unseen classes take no part
    # the targets are old classes: the consolidated layer's choice among them
    _, labels = strategy.negative_loss(generated)
    assert torch.equal(labels, consolidated[:, :2].argmax(1))
    logits.retain_grad()
    strategy.model.zero_grad(set_to_none=True)
    negative_replay_loss(logits, labels, strategy.head.active).backward()
    assert torch.all(logits.grad[:, [0, 1, 4, 5]] == 0) and torch.all(logits.grad[:, [2, 3]] > 0)
    # no gradient reaches the old (or unseen) classes' output weights
    weight_grad = strategy.model.classifier.weight.grad
    assert torch.all(weight_grad[[0, 1, 4, 5]] == 0) and weight_grad[[2, 3]].abs().sum() > 0


def test_gnr_current_data_compete_with_the_old_classes_held_constant():
    run = _gnr_in_second_task()
    strategy = run.strategy
    x, y = run.benchmark.train_batch(run.benchmark.tasks[1], torch.arange(10))
    logits = strategy.seen_logits(strategy.model.features(x))
    logits.retain_grad()
    F.cross_entropy(logits, y).backward()
    assert torch.all(logits.grad[:, 2:4].abs().sum(1) > 0)
    batch = Batch(x, y, torch.ones_like(y), x)
    own, seen = strategy.current_losses(batch)
    # AR1*'s own loss: the current classes among themselves, on the temporary weights
    assert torch.isclose(own, F.cross_entropy(strategy.model(x)[:, 2:4], y - 2))
    strategy.model.zero_grad(set_to_none=True)
    seen.backward()
    assert torch.all(strategy.model.classifier.weight.grad[[0, 1]] == 0)
    # the old classes do compete: a softmax over the current classes alone gives another loss
    alone = F.cross_entropy(logits.detach()[:, 2:4], y - 2)
    assert not torch.isclose(seen, alone)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])  # plain SGD takes its own step (base.optimizer_step)
def test_gnr_clips_each_gradient_value_before_its_step(optimizer):
    run = _gnr_in_second_task(optimizer=optimizer)
    strategy = run.strategy
    x = run.benchmark.data.x_train[:10]
    before = state(strategy.model)
    strategy.optimizer_step(1e4 * strategy.model(x).pow(2).sum())  # raw gradients far above 1
    grads = [p.grad for p in strategy.model.parameters() if p.grad is not None]
    assert max(float(g.abs().max()) for g in grads) == 1.0
    if optimizer == "sgd":  # each weight moved by lr x its clipped gradient, at most lr
        moved = max(float((v - before[k]).abs().max()) for k, v in state(strategy.model).items())
        assert 0 < moved <= run.config.lr + 1e-7


def test_gnr_never_changes_the_old_classes_consolidated_weights():
    run = _gnr_in_second_task()
    strategy = run.strategy
    old = {name: cw[:2].clone() for name, cw in strategy.head.cw.items()}
    run.advance(until="task")  # the rest of task 2, then its consolidation
    assert bool((strategy.head.past[2:4] > 0).all())
    for name, cw in strategy.head.cw.items():
        assert torch.equal(cw[:2], old[name])  # no positive for classes 0, 1 ever came from the replay
        assert not torch.equal(cw[2:4], torch.zeros_like(cw[2:4]))


# ---------------------------------------------------------------------------------------------------
# DualNet


def test_barlow_twins_loss_is_zero_only_for_agreeing_decorrelated_embeddings():
    # two standardised, uncorrelated dimensions (any offset and scale: the loss standardises)
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]) * 3.0 + 5.0
    assert barlow_twins_loss(z, z, 2e-3).item() == 0.0
    # views that disagree: dimension 0 of one view is dimension 1 of the other (C = [[0, 1], [1, 0]])
    assert barlow_twins_loss(z, z.flip(1), 2e-3).item() == pytest.approx(2.0 + 2e-3 * 2)
    # agreeing but redundant dimensions: only the off-diagonal term is left
    redundant = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]])
    assert barlow_twins_loss(redundant, redundant, 0.5).item() == pytest.approx(0.5 * 2)


def test_fast_learner_modulates_the_slow_features():
    run = tiny("dualnet", buffer_size=20)
    model = run.strategy.dualnet
    x = run.benchmark.data.x_train[:5]
    logits, slow, gate, adapted = model.forward_parts(x)
    assert torch.equal(slow, model.slow_features(x))
    assert torch.equal(adapted, gate * slow)
    assert torch.allclose(logits, model.classifier(adapted))
    assert model.slow is run.strategy.model.hidden  # the run's MLP is the slow learner


def test_slow_learner_is_updated_only_by_the_ssl_loss():
    run = tiny("dualnet", buffer_size=20)
    strategy = run.strategy
    run.advance(batches=2)
    # the supervised loss gives the slow learner no gradient at all
    strategy.optimizer.zero_grad(set_to_none=True)
    strategy.ssl_optimizer.zero_grad(set_to_none=True)
    batch_x, batch_y = run.benchmark.train_batch(run.benchmark.tasks[0], torch.arange(10))
    from clcore.strategies import Batch

    loss = strategy.supervised_loss(Batch(batch_x, batch_y, torch.zeros_like(batch_y), batch_x))[0]
    loss.backward()
    assert all(p.grad is None for p in strategy.dualnet.slow.parameters())
    assert all(p.grad is not None for p in strategy.dualnet.fast.parameters())

    # with no SSL learning rate, training leaves the slow learner exactly as it was
    frozen = tiny("dualnet", buffer_size=20, params={"ssl_lr": 0.0})
    slow, fast = state(frozen.strategy.dualnet.slow), state(frozen.strategy.dualnet.fast)
    frozen.advance(batches=5)
    assert same(slow, state(frozen.strategy.dualnet.slow))
    assert not same(fast, state(frozen.strategy.dualnet.fast))
    # with it, the slow learner moves; with beta = 0 the look-ahead keeps none of the SSL steps' change
    moving = tiny("dualnet", buffer_size=20, params={"ssl_lr": 0.1})
    slow = state(moving.strategy.dualnet.slow)
    moving.advance(batches=5)
    assert not same(slow, state(moving.strategy.dualnet.slow))
    assert moving.record.step_stats == [] or "ssl_loss" in moving.strategy.stats.drain()
    held = tiny("dualnet", buffer_size=20, params={"ssl_lr": 0.1, "beta": 0.0})
    slow = state(held.strategy.dualnet.slow)
    held.advance(batches=5)
    assert same(slow, state(held.strategy.dualnet.slow))


def test_gnr_is_refused_where_tasks_bring_no_new_classes():
    from clcore.errors import ConfigError

    for benchmark in ("permuted-mnist", "rotated-mnist", "mnist-360"):
        with pytest.raises(
            ConfigError,
            match=rf"^benchmark: generative_negative_replay needs tasks that bring new classes, and {benchmark} has",
        ):
            make_config(strategy="generative_negative_replay", benchmark=benchmark)
    code, stderr = run_cli(["run", "--strategy", "generative_negative_replay", "--benchmark", "permuted-mnist"])
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "choose a split benchmark" in stderr
    assert make_config(strategy="generative_negative_replay", benchmark="split-mnist")  # where it is defined


def test_dualnet_needs_the_mlp():
    from clcore.errors import ConfigError

    with pytest.raises(ConfigError, match="model mlp"):
        tiny("dualnet", buffer_size=20, model="cnn")


# ---------------------------------------------------------------------------------------------------
# the CLI, end to end

CLI_RUNS = {
    "generative_replay": [],
    "generative_negative_replay": ["--param", "latent_size=8", "--param", "new_data_ratio=0.4"],
    "dualnet": ["--buffer", "30", "--param", "inner_steps=1"],
}


def test_each_strategy_runs_from_the_cli(tmp_path):
    done = run_each(
        tmp_path,
        CLI_RUNS,
        [
            "--no-recommended",
            "--tasks",
            "2",
            "--train-subset",
            "40",
            "--hidden",
            "32",
            "--eval-every",
            "0",
            "--eval-subset",
            "20",
        ],
    )
    for name, (code, stderr, result) in done.items():
        assert code == 0, f"{name}: {stderr}"
        assert result["status"] == "finished" and result["config"]["strategy"] == name
        assert len(result["acc_matrix"]) == 2 and result["steps"] == 8
        assert result["step_stats"]["values"]
