"""The gradient group's mechanisms on hand-made cases: GEM's QP projection (against a brute-force
enumeration of active sets), A-GEM's closed-form projection, MIR's retrieval of the most interfered
samples, LFD's Riemannian direction search, orthogonal penalty and equilibrium point; and each strategy
through the CLI."""

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F

from clcore import Run, make_config
from clcore.mechanics.gradients import (
    earlier_task_samples,
    flat_grad,
    flat_params,
    project_agem,
    project_gem,
    trainable,
)
from clcore.strategies import Batch
from clcore.strategies.lfd import equilibrium_point, find_direction, orthogonal_component, riemannian_sphere_step
from tests.cli_support import run_each

STRATEGIES = ("gem", "agem", "mir", "lfd")


def tiny(strategy, **kw):
    cfg = dict(
        strategy=strategy,
        buffer_size=30,
        train_subset=40,
        batch_size=10,
        hidden=(16,),
        eval_every=0,
        eval_subset=20,
        seed=0,
        lr=0.1,
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


def closest_feasible(g, G):
    """Brute force: the closest point to g with G x >= 0 is g's projection onto the subspace of some set
    of active constraints; try every set and keep the closest feasible candidate."""
    best = None
    for k in range(len(G) + 1):
        for active in itertools.combinations(range(len(G)), k):
            A = G[list(active)]
            if k and torch.linalg.matrix_rank(A) < k:
                continue
            x = g - A.T @ torch.linalg.solve(A @ A.T, A @ g) if k else g
            if (G @ x >= -1e-9).all() and (best is None or (x - g).norm() < (best - g).norm()):
                best = x
    return best


# ---------------------------------------------------------------------------------------------------
# GEM


@pytest.mark.parametrize("seed", range(6))
def test_gem_projection_is_the_closest_gradient_that_violates_no_constraint(seed):
    gen = torch.Generator().manual_seed(seed)
    dim, tasks = (2, 2) if seed < 3 else (3, 3)
    G = torch.randn(tasks, dim, generator=gen, dtype=torch.float64)
    g = -G[0] * 1.5 + 0.3 * torch.randn(dim, generator=gen, dtype=torch.float64)  # violates task 0's constraint
    assert (G @ g < 0).any()
    projected = project_gem(g, G, margin=0.0)
    assert (G @ projected >= -1e-6).all()
    assert torch.allclose(projected, closest_feasible(g, G), atol=1e-6)


def test_gem_projection_with_parallel_memory_gradients():
    G = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)  # rank 2
    g = torch.tensor([-1.0, -2.0, 0.5], dtype=torch.float64)
    projected = project_gem(g, G)
    assert (G @ projected >= -1e-6).all()
    assert torch.allclose(projected, torch.tensor([0.0, -1.25, 1.25], dtype=torch.float64), atol=1e-6)


def test_gem_leaves_an_admissible_gradient_alone():
    G = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    g = torch.tensor([0.2, -0.1])  # dots 0.2 and 0.05: no violation
    assert project_gem(g, G, margin=0.5) is g


def test_gem_margin_is_a_lower_bound_on_the_dual_variables():
    G = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([-1.0, 2.0, 3.0], dtype=torch.float64)
    projected = project_gem(g, G, margin=0.5)
    v = torch.linalg.lstsq(G.T, (projected - g)[:, None]).solution.flatten()  # g~ = g + G^T v
    assert torch.allclose(G.T @ v, projected - g, atol=1e-8)
    # v = max(margin, what the plain projection needs): task 0 needs 1.0, task 1 none
    assert torch.allclose(v, torch.tensor([1.0, 0.5], dtype=torch.float64), atol=1e-6)


def test_gem_step_increases_no_earlier_tasks_memory_loss_to_first_order():
    run = tiny("gem", params={"gamma": 0.0})
    run.advance(until="task")
    run.advance(until="task")
    s = run.strategy
    s.begin_task(2)
    memory = s.memory_gradients()
    stored = earlier_task_samples(s)
    assert memory.shape[0] == 2 and sorted(stored.task.unique().tolist()) == [0, 1]
    for row, task in zip(memory, sorted(stored.task.unique().tolist())):  # one gradient per earlier task
        mine = stored.task == task
        s.model.zero_grad()
        F.cross_entropy(s.model(stored.x[mine]), stored.y[mine]).backward()
        assert torch.allclose(row, flat_grad(s.model), atol=1e-6)
    task = run.benchmark.tasks[2]
    x, y = run.benchmark.train_batch(task, torch.arange(10))
    before = flat_params(s.model)
    s.observe(Batch(x, y, torch.full_like(y, 2), x))
    update = flat_params(s.model) - before  # = -lr * g~ with plain SGD
    assert (memory @ update <= 1e-7).all()
    stats = s.drain_step_stats()
    assert set(stats) == {"projected", "angle", "angle_projected"} and stats["angle_projected"] <= 90.0 + 1e-4


# ---------------------------------------------------------------------------------------------------
# A-GEM


def test_agem_projection():
    g_ref = torch.tensor([1.0, 1.0, 0.0])
    g = torch.tensor([-2.0, 0.5, 1.0])  # dot -1.5
    projected = project_agem(g, g_ref)
    assert torch.dot(projected, g_ref).abs() < 1e-6  # lands on the constraint's boundary
    assert torch.allclose(projected, g + 0.75 * g_ref)
    fine = torch.tensor([2.0, -0.5, 1.0])
    assert torch.equal(project_agem(fine, g_ref), fine)


def test_agem_reference_gradient_comes_from_earlier_tasks_only():
    run = tiny("agem", replay_batch_size=8)
    run.advance(until="task")
    run.advance(batches=2)  # task 1 samples are in the buffer now too
    s = run.strategy
    assert (s.buffer.task[: len(s.buffer)] == 1).any()
    state = s.generator.get_state()
    row = s.memory_gradients()
    s.generator.set_state(state)
    reference = earlier_task_samples(s, 8)
    assert row.shape[0] == 1 and len(reference.y) == 8 and (reference.task == 0).all()
    s.model.zero_grad()
    F.cross_entropy(s.model(reference.x), reference.y).backward()
    assert torch.allclose(row[0], flat_grad(s.model), atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# MIR


def test_mir_retrieves_exactly_the_top_k_by_interference():
    run = tiny("mir", replay_batch_size=4, params={"mir_candidates": 12})
    run.advance(until="task")
    s = run.strategy
    s.begin_task(1)
    task = run.benchmark.tasks[1]
    x, y = run.benchmark.train_batch(task, torch.arange(10))
    batch = Batch(x, y, torch.full_like(y, 1), x)
    state = s.generator.get_state()
    retrieval = s.retrieve(batch)
    s.generator.set_state(state)
    candidates = earlier_task_samples(s, 12)

    # brute force: a real SGD step on a copy of the model
    virtual = copy.deepcopy(s.model)
    virtual.zero_grad()
    F.cross_entropy(virtual(x), y).backward()
    with torch.no_grad():
        for p in trainable(virtual):
            p -= 0.1 * p.grad
        interference = F.cross_entropy(virtual(candidates.x), candidates.y, reduction="none") - F.cross_entropy(
            s.model(candidates.x), candidates.y, reduction="none"
        )
    assert torch.allclose(retrieval.scores, interference, atol=1e-6)
    expected = set(torch.topk(interference, 4).indices.tolist())
    assert set(retrieval.chosen.tolist()) == expected
    assert torch.equal(retrieval.x, candidates.x[retrieval.chosen])
    assert all(
        float(interference[i]) >= float(interference[j]) for i in expected for j in range(12) if j not in expected
    )


# ---------------------------------------------------------------------------------------------------
# LFD


def _quadratic(center, scales):
    return lambda theta: 0.5 * (scales * (theta - center).pow(2)).sum()


def test_riemannian_step_stays_on_the_sphere_and_lowers_the_loss():
    gen = torch.Generator().manual_seed(1)
    anchor, center = torch.zeros(5, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)
    loss = _quadratic(center, torch.tensor([1.0, 2.0, 3.0, 0.5, 1.5], dtype=torch.float64))
    direction = torch.randn(5, generator=gen, dtype=torch.float64)
    direction /= direction.norm()
    radius = 2.0
    probe = direction.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(loss(anchor + radius * probe), probe)
    moved = riemannian_sphere_step(direction, gradient, lr=0.05)
    assert abs(float(moved.norm()) - 1.0) < 1e-12
    assert loss(anchor + radius * moved) < loss(anchor + radius * direction)


def test_direction_search_finds_the_least_forgetting_direction():
    # isotropic quadratic: on the sphere the lowest loss lies towards the minimum
    anchor = torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)
    center = anchor + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    start = torch.tensor([0.0, -1.0, 1.0], dtype=torch.float64)
    found = find_direction(
        _quadratic(center, torch.ones(3, dtype=torch.float64)), anchor, start, radius=1.0, lr=0.2, steps=100
    )
    assert abs(float(found.norm()) - 1.0) < 1e-12
    assert torch.allclose(found, torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64), atol=1e-6)


def test_orthogonal_penalty_is_zero_along_the_direction_only():
    d = torch.tensor([0.6, 0.8, 0.0])
    assert orthogonal_component(2.5 * d, d).pow(2).sum() < 1e-12
    off = torch.tensor([0.6, 0.8, 0.3])
    assert torch.allclose(orthogonal_component(off, d), torch.tensor([0.0, 0.0, 0.3]), atol=1e-7)
    assert orthogonal_component(torch.tensor([-0.8, 0.6, 0.0]), d).pow(2).sum() > 0.99


def test_equilibrium_point_is_the_grid_minimum():
    alphas, values, best = equilibrium_point(lambda a: (a - 0.3) ** 2 + 1.0, 11)
    assert alphas[best] == pytest.approx(0.3) and len(values) == 11
    assert values[best] == min(values)
    _, _, tie = equilibrium_point(lambda a: 0.0, 5)
    assert tie == 0  # ties go to the point nearest the old parameters


def test_lfd_task_end_moves_to_the_memory_equilibrium():
    run = tiny("lfd", params={"ep_points": 6, "direction_steps": 5})
    run.advance(until="task")
    s = run.strategy
    old, direction = s.anchor.clone(), s.direction
    assert direction is not None and abs(float(direction.norm()) - 1.0) < 1e-5
    assert s.report.direction.direction_loss <= s.report.direction.random_loss + 1e-6
    # train task 2 up to its last batch, then check the task end by brute force
    while run.step < 2 * 4 - 1:
        run.advance(batches=1)
    run.advance(batches=1)  # the last batch; end_task has not run yet
    assert run.step == 8 and len(run.record.task_boundaries) == 1
    new = flat_params(s.model)
    memory = s.buffer.get(torch.arange(len(s.buffer)))
    criterion = []
    for alpha in [i / 5 for i in range(6)]:
        probe = copy.deepcopy(s.model)
        with torch.no_grad():
            start = 0
            for p in trainable(probe):
                p.copy_((old + alpha * (new - old))[start : start + p.numel()].view_as(p))
                start += p.numel()
            losses = F.cross_entropy(probe(memory.x), memory.y, reduction="none")
        criterion.append(float(torch.stack([losses[memory.task == t].mean() for t in (0, 1)]).mean()))
    run.advance(until="task")
    report = run.record.strategy_reports[-1].equilibrium
    best = min(range(6), key=lambda i: criterion[i])
    assert report.criterion == pytest.approx(criterion, abs=1e-5)
    assert report.alpha == pytest.approx(best / 5)
    assert torch.allclose(flat_params(s.model), old + report.alpha * (new - old), atol=1e-6)
    assert torch.allclose(s.anchor, flat_params(s.model))


# ---------------------------------------------------------------------------------------------------
# the CLI


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    return run_each(
        tmp_path_factory.mktemp("gradient_cli"),
        {name: [] for name in STRATEGIES},
        ["--buffer", "40", "--train-subset", "60", "--hidden", "32", "--tasks", "5", "--eval-every", "0"],
    )


@pytest.mark.parametrize("name", STRATEGIES)
def test_cli_runs_the_strategy(name, cli_runs):
    code, stderr, result = cli_runs[name]
    assert code == 0, stderr
    assert result["status"] == "finished" and result["config"]["strategy"] == name
    assert len(result["acc_matrix"]) == 5 and all(len(row) == 5 for row in result["acc_matrix"])
    stats = result["step_stats"]["values"]
    expected = {"gem": "projected", "agem": "projected", "mir": "retrieved", "lfd": "offset_orthogonal"}[name]
    assert any(expected in v for v in stats)
    if name == "lfd":
        alphas = [r["equilibrium"]["alpha"] for r in result["strategy_reports"][1:]]
        assert len(alphas) == 4 and all(0.0 <= a <= 1.0 for a in alphas)
