"""EMA warm-up and update, CLS-ER's teacher choice, and CLS-ER end to end on a tiny run."""

import copy
import math

import pytest
import torch
from torch import nn

from clcore import Run, make_config
from clcore.mechanics.ema import ema_alpha, ema_update
from clcore.strategies.clser import CLSER

# ---------------------------------------------------------------------------------------------------
# EMA


@pytest.mark.parametrize(
    "step, alpha_max, expected",
    [
        (0, 0.999, 0.0),  # 1 - 1/1 = 0: the first update copies the model
        (1, 0.999, 0.5),  # 1 - 1/2
        (9, 0.999, 0.9),  # 1 - 1/10
        (1000, 0.999, 0.999),  # 1 - 1/1001 = 0.999000999... > 0.999: capped
        (1000, 0.99, 0.99),
        (9, 0.5, 0.5),  # 0.9 > 0.5: capped early
    ],
)
def test_ema_alpha_warm_up(step, alpha_max, expected):
    assert ema_alpha(alpha_max, step) == pytest.approx(expected, abs=1e-15)


def test_ema_alpha_formula_just_below_the_cap():
    # step 998: 1 - 1/999 = 0.998998998... < 0.999
    assert ema_alpha(0.999, 998) == pytest.approx(1 - 1 / 999, abs=1e-15)


@pytest.mark.parametrize("step, alpha_max", [(1000, 0.99), (3, 0.999), (0, 0.999)])
def test_ema_update_is_alpha_ema_plus_one_minus_alpha_param(step, alpha_max):
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    ema = nn.Linear(4, 3).double()
    before = [p.detach().clone() for p in ema.parameters()]
    model_before = [p.detach().clone() for p in model.parameters()]
    alpha = ema_update(list(ema.parameters()), list(model.parameters()), alpha_max, step)
    expected_alpha = min(1 - 1 / (step + 1), alpha_max)
    assert alpha == pytest.approx(expected_alpha, abs=1e-15)
    for e, e0, p in zip(ema.parameters(), before, model.parameters()):
        assert not torch.equal(e, e0)  # it did move
        torch.testing.assert_close(
            e.detach(), expected_alpha * e0 + (1 - expected_alpha) * p.detach(), rtol=0, atol=1e-14
        )
    # the model itself is untouched
    assert all(torch.equal(p, p0) for p, p0 in zip(model.parameters(), model_before))


# ---------------------------------------------------------------------------------------------------
# teacher choice


def test_choose_teacher_picks_higher_true_label_probability():
    plastic = torch.tensor(
        [
            [2.0, 0.0, 0.0],  # 0: label 0; plastic p=e^2/(e^2+2)=0.79 > stable 1/3        -> plastic
            [0.0, 0.0, 0.0],  # 1: label 1; plastic 1/3 < stable e^3/(e^3+2)=0.91           -> stable
            [1.0, 1.0, 1.0],  # 2: label 2; both exactly 1/3 (a tie)                        -> plastic
            [0.0, 4.0, 0.0],  # 3: label 0; plastic is MORE confident overall, but on a wrong
            #    class: its p(true)=1/(e^4+2)=0.018 < stable e/(e+2)=0.58  -> stable
            [3.0, 0.0, 0.0],  # 4: label 0; stable has the larger raw logit on the label (5 > 3)
            #    but p = e^5/(2e^5+1)=0.497 < plastic e^3/(e^3+2)=0.909   -> plastic
        ]
    )
    stable = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [0.0, 3.0, 0.0],
            [5.0, 5.0, 5.0],
            [1.0, 0.0, 0.0],
            [5.0, 5.0, 0.0],
        ]
    )
    labels = torch.tensor([0, 1, 2, 0, 0])
    target, took_stable = CLSER.choose_teacher(plastic, stable, labels)
    assert took_stable.dtype == torch.bool
    assert took_stable.tolist() == [False, True, False, True, False]
    expected = torch.stack([plastic[0], stable[1], plastic[2], stable[3], plastic[4]])
    assert torch.equal(target, expected)


# ---------------------------------------------------------------------------------------------------
# end to end

TRAIN_SUBSET, BATCH, BUFFER, REPLAY = 200, 10, 50, 16
N_TASKS = 5
STEPS_PER_TASK = TRAIN_SUBSET // BATCH


def clser_run(**params):
    cfg = make_config(
        strategy="clser",
        buffer_size=BUFFER,
        train_subset=TRAIN_SUBSET,
        batch_size=BATCH,
        replay_batch_size=REPLAY,
        eval_every=0,
        seed=0,
        hidden=(32,),
        params=params,
    )
    return Run(cfg)


def expected_replayed_per_step():
    """Buffer samples replayed at each step: min(replay batch, stored so far); none at step 1."""
    out = []
    for step in range(1, N_TASKS * STEPS_PER_TASK + 1):
        stored = min(BUFFER, BATCH * (step - 1))
        out.append(min(REPLAY, stored))
    return out


@pytest.fixture(scope="module")
def finished_clser():
    run = clser_run(plastic_freq=1.0, stable_freq=0.5, plastic_alpha=0.9, stable_alpha=0.99)
    init = copy.deepcopy(run.strategy.model.state_dict())
    result = run.run_to_end()
    return run, result, init


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_clser_ema_models_move_and_differ_from_student(finished_clser):
    run, result, init = finished_clser
    assert result["status"] == "finished"
    s = run.strategy
    student, plastic, stable = _flat(s.model), _flat(s.plastic), _flat(s.stable)
    start = torch.cat([v.flatten() for v in init.values()])
    for name, w in (("plastic", plastic), ("stable", stable)):
        assert not torch.allclose(w, student), name
        assert not torch.allclose(w, start), name  # the EMA did follow the student
    assert not torch.allclose(plastic, stable)
    # the fast model (alpha 0.9, updated every step) stays closer to the student than the slow one
    assert (plastic - student).norm() < (stable - student).norm()
    # teachers get no gradients
    assert not any(p.requires_grad for p in s.plastic.parameters())
    assert not any(p.requires_grad for p in s.stable.parameters())


def test_clser_teacher_choice_counts_add_up(finished_clser):
    run, result, _ = finished_clser
    s = run.strategy
    per_step = expected_replayed_per_step()
    replay_steps = [i + 1 for i, n in enumerate(per_step) if n > 0]
    total = sum(per_step)

    # per-step log: steps x [plastic, stable] x task of the buffer sample
    log = s.choice_log
    assert log.shape == (len(replay_steps), 2, N_TASKS)
    assert s.choice_log_steps == replay_steps
    assert log.sum(dim=(1, 2)).tolist() == [n for n in per_step if n > 0]
    assert int(log.sum()) == total
    for row, step in zip(log, replay_steps):
        task_now = (step - 1) // STEPS_PER_TASK
        assert int(row[:, task_now + 1 :].sum()) == 0  # no buffer sample from a future task
    # both teachers get chosen at some point in this run
    assert int(log[:, 0].sum()) > 0 and int(log[:, 1].sum()) > 0

    # the drained windows in the run record carry the same counts
    stats = [v for _, v in run.record.step_stats]
    assert sum(v.steps for v in stats) == len(replay_steps)
    plastic = torch.tensor([v.plastic for v in stats]).sum(0)
    stable = torch.tensor([v.stable for v in stats]).sum(0)
    assert plastic.tolist() == log[:, 0].sum(0).tolist()
    assert stable.tolist() == log[:, 1].sum(0).tolist()
    assert int(plastic.sum() + stable.sum()) == total
    # every task's samples were replayed (split by task, all tasks but the last reach the buffer early)
    assert all(int(plastic[t] + stable[t]) > 0 for t in range(N_TASKS))

    report = run.record.strategy_reports[-1].teacher_choices_total
    assert report.plastic == plastic.tolist() and report.stable == stable.tolist()
    assert result["step_stats"]["steps"] == [step for step, _ in run.record.step_stats]


def test_clser_result_reports_all_three_models(finished_clser):
    run, result, _ = finished_clser
    assert result["reported_model"] == "stable"
    assert set(result["per_model"]) == {"student", "plastic", "stable"}
    for name, m in result["per_model"].items():
        assert len(m["acc_matrix"]) == N_TASKS and all(len(r) == N_TASKS for r in m["acc_matrix"])
        assert all(0 <= v <= 100 for r in m["acc_matrix"] for v in r)
        for key in ("avg_acc", "forgetting", "bwt", "fwt"):
            assert isinstance(m[key], float) and math.isfinite(m[key]), (name, key)
        assert len(m["acc_matrix_task_il"]) == N_TASKS
    assert result["acc_matrix"] == result["per_model"]["stable"]["acc_matrix"]
    assert result["avg_acc"] == result["per_model"]["stable"]["avg_acc"]
    # the three models were evaluated separately (the student is not the EMA)
    assert result["per_model"]["student"]["acc_matrix"] != result["per_model"]["stable"]["acc_matrix"]


def _count_ema_updates(monkeypatch, run):
    counts = {"plastic": 0, "stable": 0}
    real = ema_update
    plastic, stable = next(run.strategy.plastic.parameters()), next(run.strategy.stable.parameters())

    def counting(ema_params, params, alpha_max, step):
        counts["plastic" if ema_params[0] is plastic else "stable"] += 1
        assert ema_params[0] is plastic or ema_params[0] is stable
        return real(ema_params, params, alpha_max, step)

    monkeypatch.setattr("clcore.strategies.clser.ema_update", counting)
    return counts


def test_clser_zero_update_frequencies_freeze_the_teachers(monkeypatch):
    run = clser_run(plastic_freq=0.0, stable_freq=0.0)
    counts = _count_ema_updates(monkeypatch, run)
    init = _flat(run.strategy.model).clone()
    run.run_to_end()
    assert run.status == "finished"
    assert counts == {"plastic": 0, "stable": 0}
    assert torch.equal(_flat(run.strategy.plastic), init)
    assert torch.equal(_flat(run.strategy.stable), init)
    assert not torch.equal(_flat(run.strategy.model), init)


def test_clser_update_frequencies_are_probabilities(monkeypatch):
    run = clser_run(plastic_freq=1.0, stable_freq=0.3)
    counts = _count_ema_updates(monkeypatch, run)
    run.run_to_end()
    steps = N_TASKS * STEPS_PER_TASK  # 100 optimizer steps
    assert counts["plastic"] == steps
    # Binomial(100, 0.3): mean 30, sd 4.6; 12..48 is about +-4 sd
    assert 12 <= counts["stable"] <= 48, counts
