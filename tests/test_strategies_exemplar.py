"""Baselines and exemplar methods (cumulative, ensemble, GDumb, iCaRL): each one's core mechanism on a
hand-made case, and a CLI run end to end."""

import pytest
import torch

import clcore
from clcore import Run, make_config
from clcore.mechanics.losses import binary_distillation_loss
from clcore.strategies import Batch
from clcore.strategies.ensemble import Ensemble
from clcore.strategies.icarl import NearestMeanOfExemplars, herding_order
from tests.cli_support import run_each

SUBSET = 100  # training examples per task: 10 batches of 10
CLI_RUNS = {  # strategy -> extra CLI arguments
    "cumulative": [],
    "ensemble": [],
    "gdumb": ["--buffer", "50", "--param", "epochs_on_buffer=4"],
    "icarl": ["--buffer", "50"],
}


def tiny(strategy, **kw):
    cls = clcore.STRATEGIES[strategy]
    cfg = dict(
        strategy=strategy,
        buffer_size=50 if cls.uses_buffer else 0,
        train_subset=SUBSET,
        batch_size=10,
        hidden=(32,),
        eval_every=0,
        seed=0,
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


# ---------------------------------------------------------------------------------------------------
# command line, end to end


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    return run_each(
        tmp_path_factory.mktemp("cli"),
        CLI_RUNS,
        ["--train-subset", str(SUBSET), "--hidden", "32", "--tasks", "2", "--eval-every", "0"],
    )


@pytest.mark.parametrize("name", list(CLI_RUNS))
def test_cli_run_end_to_end(cli_results, name):
    code, stderr, result = cli_results[name]
    assert code == 0, stderr
    assert result["status"] == "finished" and result["config"]["strategy"] == name
    assert len(result["acc_matrix"]) == 2 and all(len(row) == 2 for row in result["acc_matrix"])
    assert len(result["strategy_reports"]) == 2 and result["avg_acc"] > 20


# ---------------------------------------------------------------------------------------------------
# cumulative


def test_cumulative_phase_i_streams_every_sample_of_tasks_up_to_i():
    run = tiny("cumulative")
    bench = run.benchmark
    streamed = []  # per phase: task id -> inputs streamed
    real_begin, real_observe = run.strategy.begin_task, run.strategy.observe

    def begin_task(i):
        streamed.append({})
        return real_begin(i)

    def observe(batch):
        for t in batch.task.unique().tolist():
            streamed[-1].setdefault(t, []).append(batch.x[batch.task == t])
        return real_observe(batch)

    run.strategy.begin_task, run.strategy.observe = begin_task, observe
    result = run.run_to_end()
    assert len(result["acc_matrix"]) == 5 and result["task_boundaries"] == [10, 30, 60, 100, 150]
    for phase, by_task in enumerate(streamed):
        assert sorted(by_task) == list(range(phase + 1))  # tasks 0..i only
        for t, parts in by_task.items():
            got = torch.cat(parts).flatten(1)
            expected, _ = bench.train_batch(bench.tasks[t], torch.arange(SUBSET))
            expected = expected.flatten(1)
            assert len(got) == SUBSET  # every sample exactly once per epoch ...
            match = (expected[:, None, :] == got[None, :, :]).all(-1)
            assert match.any(1).all() and match.any(0).all()  # ... and all of them
        counts = run.record.strategy_reports[phase].samples_per_task
        assert counts == [SUBSET] * (phase + 1) + [0] * (4 - phase)


# ---------------------------------------------------------------------------------------------------
# ensemble


def linear_member(logits_per_input):
    """A member whose logits for the one-hot input e_i are the row logits_per_input[i]."""
    rows = torch.tensor(logits_per_input, dtype=torch.float32)
    member = torch.nn.Linear(rows.shape[0], rows.shape[1], bias=False)
    with torch.no_grad():
        member.weight.copy_(rows.T)
    return member


def test_ensemble_forward_task_uses_the_tasks_member_and_forward_the_most_confident():
    untrained = linear_member([[0.0, 0.0, 0.0, 0.0]] * 3)
    ensemble = Ensemble(untrained)
    x = torch.eye(3)
    assert torch.equal(ensemble(x), untrained(x))  # no member yet: the untrained network answers
    a = linear_member([[3.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    b = linear_member([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 4.0], [0.0, 2.0, 0.0, 0.0]])
    ensemble.members.extend([a, b])
    assert torch.equal(ensemble.forward_task(x, 0), a(x))
    assert torch.equal(ensemble.forward_task(x, 1), b(x))
    assert torch.equal(ensemble.forward_task(x, 2), untrained(x))  # a task with no member yet
    # top softmax probability: input 0: a 0.87 vs b 0.48; input 1: a 0.48 vs b 0.95; input 2: a 0.25 vs b 0.71
    logits, chosen = ensemble.answering_member(x)
    assert chosen.tolist() == [0, 1, 1]
    assert torch.equal(logits, torch.stack([a(x)[0], b(x)[1], b(x)[2]]))
    assert ensemble(x).argmax(1).tolist() == [0, 3, 1]


def test_ensemble_members_start_from_the_same_init_and_earlier_members_never_change():
    run = tiny("ensemble")
    strategy = run.strategy
    init = [p.detach().clone() for p in strategy.ensemble.untrained.parameters()]
    frozen = []  # each member's parameters at the end of its task
    real_end = strategy.end_task

    def end_task(i):
        real_end(i)
        frozen.append([p.detach().clone() for p in strategy.ensemble.members[i].parameters()])

    def begin_task_check(i, real_begin=strategy.begin_task):
        real_begin(i)
        member = strategy.ensemble.members[i]
        assert member is strategy.model and len(strategy.ensemble.members) == i + 1
        assert all(torch.equal(p, q) for p, q in zip(member.parameters(), init))  # a fresh copy of the init
        optimised = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
        assert optimised == {id(p) for p in member.parameters()}  # the optimizer trains this member only

    strategy.end_task, strategy.begin_task = end_task, begin_task_check
    result = run.run_to_end()
    assert result["status"] == "finished" and len(frozen) == 5
    for member, params in zip(strategy.ensemble.members, frozen):
        assert all(torch.equal(p, q) for p, q in zip(member.parameters(), params))
        assert not all(torch.equal(p, q) for p, q in zip(member.parameters(), init))  # it did learn
    report = run.record.strategy_reports[-1]
    assert len(report.members_acc) == 5 and all(abs(sum(row) - 100) < 1e-3 for row in report.answered)
    # Task-IL: member t answers for task t, so nothing is forgotten once its task is over
    til = result["acc_matrix_task_il"]
    assert all(til[-1][t] == til[t][t] for t in range(5))


# ---------------------------------------------------------------------------------------------------
# GDumb


def feed(strategy, labels):
    y = torch.tensor(labels)
    x = torch.rand(len(y), 1, 28, 28, generator=torch.Generator().manual_seed(len(labels)))
    strategy.observe(Batch(x, y, torch.zeros_like(y), x))


def test_gdumb_memory_stays_class_balanced_whatever_the_buffer_policy_setting():
    strategy = tiny("gdumb", buffer_size=10, buffer_policy="reservoir").strategy
    assert strategy.buffer.policy == "balanced"

    def counts():
        return torch.bincount(strategy.buffer.y[: len(strategy.buffer)], minlength=10).tolist()[:4]

    feed(strategy, [0] * 14)  # more than fits: the first 10 are kept, then class 0 is at its share
    assert counts() == [10, 0, 0, 0]
    for _ in range(8):
        feed(strategy, [1])  # each takes a slot from the largest class
    assert counts() == [5, 5, 0, 0]
    stored = strategy.buffer.x.clone()
    feed(strategy, [0, 1, 1, 0])  # both classes hold their share (10 / 2): dropped
    assert counts() == [5, 5, 0, 0] and torch.equal(strategy.buffer.x, stored)
    for k in range(12):
        feed(strategy, [2, 3] if k % 3 else [3])  # an imbalanced stream of two new classes
        assert sum(counts()) == 10
    assert sorted(counts()) == [2, 2, 3, 3]  # 10 slots over 4 classes: max - min <= 1 once full
    assert len(strategy.buffer) == 10


def test_gdumb_retrains_from_the_same_init_at_every_task_end_and_never_learns_from_the_stream():
    def run_with_starts():
        run = tiny("gdumb", params={"epochs_on_buffer": 3})
        strategy, starts = run.strategy, []
        real_fit = strategy.fit_memory

        def fit_memory():
            starts.append([p.detach().clone() for p in strategy.model.parameters()])
            return real_fit()

        strategy.fit_memory = fit_memory
        init = [p.detach().clone() for p in strategy.model.parameters()]
        run.advance(batches=5)  # streaming alone changes nothing
        assert all(torch.equal(p, q) for p, q in zip(strategy.model.parameters(), init))
        result = run.run_to_end()
        return run, init, starts, result

    run, init, starts, result = run_with_starts()
    assert len(starts) == 5
    for start in starts:
        assert all(torch.equal(p, q) for p, q in zip(start, init))  # reset to the very same weights
    reports = run.record.strategy_reports
    assert all(len(r.retrain_loss) == 3 for r in reports)
    assert reports[-1].retrain_loss[-1] < reports[-1].retrain_loss[0]  # the retraining learns
    assert [r.retrain_lr for r in reports][0] == pytest.approx([0.005, 0.05, 0.05])  # warm-up, then SGDR
    again = run_with_starts()[3]
    assert again["acc_matrix"] == result["acc_matrix"]  # deterministic retraining


# ---------------------------------------------------------------------------------------------------
# iCaRL


def test_herding_picks_the_exemplars_whose_running_mean_stays_closest_to_the_class_mean():
    features = torch.tensor([[0.5, 0.0], [0.6, 0.1], [-0.7, 0.0], [3.0, -0.1], [-3.4, 0.2], [0.0, -0.2]])
    mean = features.mean(0)  # (0, 0)
    order = herding_order(features, 4).tolist()
    assert order[0] == int((features - mean).norm(dim=1).argmin()) == 5  # the point nearest the mean first
    assert order[:3] != (features - mean).norm(dim=1).argsort()[:3].tolist()  # not simply the nearest ones
    # brute force: each next exemplar minimises the distance of the chosen set's mean to the class mean
    chosen = []
    for _ in range(4):
        rest = [i for i in range(len(features)) if i not in chosen]
        chosen.append(min(rest, key=lambda i: float((features[chosen + [i]].mean(0) - mean).norm())))
    assert order == chosen
    everything = herding_order(features, 10).tolist()  # m beyond the class size: every sample, once
    assert everything[:4] == chosen and sorted(everything) == list(range(6))


class Identity(torch.nn.Module):
    def features(self, x):
        return x


def test_nme_assigns_a_point_to_the_nearest_class_mean_and_never_to_a_class_without_exemplars():
    nme = NearestMeanOfExemplars(Identity(), n_classes=3)
    x = torch.tensor([[1.0, 0.2], [0.1, 1.0], [-1.0, -0.9]])
    assert torch.isinf(nme(x)).all()  # no exemplars yet: no class can be chosen
    nme.class_means = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), dim=1)
    nme.has_mean = torch.tensor([True, True, False])
    logits = nme(x)
    assert logits.argmax(1).tolist() == [0, 1, 1]  # the third point's nearest mean (class 2) has no exemplars
    assert torch.isinf(logits[:, 2]).all()
    point = torch.nn.functional.normalize(x[0], dim=0)
    assert float(logits[0, 0]) == pytest.approx(-float((point - nme.class_means[0]).norm()), abs=1e-6)


def test_icarl_loss_is_per_class_sigmoid_bce_with_one_hot_new_and_distilled_old_targets():
    logits = torch.tensor([[1.0, -1.0, 2.0, 0.5], [0.0, 3.0, -2.0, 1.0]])
    teacher = torch.tensor([[2.0, 0.0, 9.0, 9.0], [-1.0, 1.0, 9.0, 9.0]])
    y = torch.tensor([2, 1])
    old, new = torch.tensor([True, True, False, False]), torch.tensor([False, False, True, False])
    loss = binary_distillation_loss(logits, y, teacher, new, old)
    q = torch.sigmoid(teacher)
    targets = torch.tensor([[q[0, 0], q[0, 1], 1.0], [q[1, 0], q[1, 1], 0.0]])  # old: distilled, new: one-hot
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits[:, :3]), targets)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)  # class 3 (unseen) is left out


def test_icarl_memory_is_m_per_class_by_herding_and_reducing_keeps_the_first_m():
    run = tiny("icarl")
    strategy, bench = run.strategy, run.benchmark
    run.advance(until="task")
    assert strategy.group_sizes == [25, 25]  # K = 50 over the 2 classes seen
    first = strategy.buffer.x[:50].clone()
    task = bench.tasks[0]
    x, y = bench.train_batch(task, torch.arange(SUBSET))
    features = strategy.normalised_features(x)
    for k, c in enumerate(task.classes):
        of_class = torch.nonzero(y == c).flatten()
        assert torch.equal(first[25 * k : 25 * (k + 1)], x[of_class[herding_order(features[of_class], 25)]])
    run.advance(until="task")
    assert strategy.group_sizes == [12] * 4  # 50 // 4 classes
    assert torch.equal(strategy.buffer.x[:12], first[:12]) and torch.equal(strategy.buffer.x[12:24], first[25:37])
    assert strategy.buffer.y[:48].tolist() == [0] * 12 + [1] * 12 + [2] * 12 + [3] * 12
    assert len(strategy.buffer) == 48
    models = strategy.evaluation_models()
    assert list(models) == ["nme", "linear"] and models["linear"] is strategy.model
    # class means: normalised means of the exemplars' normalised features, for the 4 classes seen only
    exemplar_features = strategy.normalised_features(strategy.buffer.x[:48])
    for c in range(4):
        mean = torch.nn.functional.normalize(exemplar_features[12 * c : 12 * (c + 1)].mean(0), dim=0)
        assert torch.allclose(models["nme"].class_means[c], mean, atol=1e-5)
    assert models["nme"].has_mean.tolist() == [True] * 4 + [False] * 6
