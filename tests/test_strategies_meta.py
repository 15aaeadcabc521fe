"""Meta-continual learning: MER's Reptile meta-updates and alignment measurement, La-MAML's learned
per-weight learning rates; each on tiny runs and through the CLI."""

import torch

from clcore import STRATEGIES, Run, make_config
from clcore.settings.presets import PRESETS
from clcore.strategies import Batch
from clcore.strategies.lamaml import MAP_UNITS, LaMAMLReport
from tests.cli_support import run_each


def tiny(strategy, **kw):
    cfg = dict(
        strategy=strategy,
        train_subset=40,
        batch_size=10,
        buffer_size=20,
        hidden=(16,),
        eval_every=0,
        eval_subset=20,
        seed=0,
        classes="0,1|2,3",
    )
    cfg.update(kw)
    return Run(make_config(**cfg))


def weights(run) -> dict:
    return {k: v.detach().clone() for k, v in run.strategy.model.state_dict().items()}


def same(a: dict, b: dict, atol=0.0) -> bool:
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def first_batch(run, n: int = 10) -> Batch:
    """`n` training images of the run's first task, as the trainer hands them to observe()."""
    bench = run.benchmark
    index = bench.tasks[0].train_idx[:n].to(bench.device)
    x, y = bench.data.x_train[index], bench.data.y_train[index]
    return Batch(x, y, torch.zeros_like(y), x)


# ---------------------------------------------------------------------------------------------------
# MER


def test_mer_with_one_step_and_no_interpolation_is_experience_replay():
    """beta = gamma = 1, one batch, one SGD step per batch (mammoth's S-MNIST settings): ER's update exactly."""
    mer, er = tiny("mer"), tiny("er")
    mer.run_to_end()
    er.run_to_end()
    assert same(weights(mer), weights(er))  # bit for bit


def test_mer_beta_zero_keeps_no_change_and_gamma_scales_the_step():
    frozen = tiny("mer", params={"beta": 0.0, "inner_steps": 3, "batch_num": 2})
    start = weights(frozen)
    frozen.run_to_end()
    assert same(weights(frozen), start)
    assert len(frozen.strategy.buffer) == 20  # the buffer still fills

    # empty buffer: one SGD step on the batch; gamma = 0.25 keeps a quarter of it
    full, quarter = tiny("mer"), tiny("mer", params={"gamma": 0.25})
    batch = first_batch(full)
    before = weights(full)
    full.strategy.observe(batch)
    quarter.strategy.observe(batch)
    for k in before:
        step = weights(full)[k] - before[k]
        assert torch.allclose(weights(quarter)[k] - before[k], 0.25 * step, atol=1e-7)


def test_mer_inner_steps_are_sequential_sgd_steps_on_slices():
    run = tiny("mer", params={"inner_steps": 5, "batch_num": 3})
    run.strategy.observe(first_batch(run))  # empty buffer: each batch is the 10 current samples
    assert run.strategy.global_step == 15
    many = tiny("mer", params={"inner_steps": 1000})  # more steps than samples: one sample a step
    many.strategy.observe(first_batch(many))
    assert many.strategy.global_step == 10


def test_mer_reports_the_alignment_against_er_from_the_same_weights():
    as_er = tiny("mer", log_every=1000)
    as_er.run_to_end()
    stats = [values for _, values in as_er.record.step_stats if values]
    assert stats and all({"alignment_before", "alignment_mer", "alignment_er"} <= set(s) for s in stats)
    # with ER's update, MER's weights after the step are ER's: the two measurements agree
    for s in stats:
        assert abs(s["alignment_mer"] - s["alignment_er"]) < 1e-4
        assert -1.0 <= s["alignment_before"] <= 1.0
    meta = tiny("mer", log_every=1000, params={"inner_steps": 2, "beta": 0.5})
    meta.run_to_end()
    differs = [abs(s["alignment_mer"] - s["alignment_er"]) for _, s in meta.record.step_stats if s]
    assert max(differs) > 1e-3


# ---------------------------------------------------------------------------------------------------
# La-MAML


def test_lamaml_learns_its_learning_rates():
    run = tiny("lamaml", lr=0.3, params={"glances": 2, "alpha_init": 0.1})
    run.run_to_end()
    rates = torch.cat([run.strategy.rates(n).flatten() for n in run.strategy.weights])
    assert not torch.allclose(rates, torch.full_like(rates, 0.1))
    assert rates.max() > 0.1 and rates.min() < 0.1  # up where gradients agreed, down where they conflicted
    stats = [values for _, values in run.record.step_stats if values]
    assert stats and {"lr_q10", "lr_q50", "lr_q90", "lr_frozen"} <= set(stats[-1])
    assert stats[-1]["lr_q10"] <= stats[-1]["lr_q50"] <= stats[-1]["lr_q90"]


def test_lamaml_rate_grows_where_the_look_ahead_and_the_meta_batch_agree():
    """One sample, empty buffer: the meta-batch is that sample, its gradient agrees with the look-ahead's,
    so (to first order, d meta / d alpha = -g_inner * g_meta, and with tiny rates g_meta ~ g_inner) every rate
    that moves goes up."""
    run = tiny("lamaml", lr=1.0, params={"glances": 1, "alpha_init": 1e-4})
    run.strategy.observe(first_batch(run, 1))
    moved = torch.cat([(run.strategy.alpha[n].detach() - 1e-4).flatten() for n in run.strategy.weights])
    assert moved.max() > 0 and moved.min() > -1e-6


def test_lamaml_weights_move_only_with_positive_rates_and_rates_only_with_eta():
    """eta (the run's lr) ~ 0: the rates stay where they started; at 0, relu(0) freezes every weight."""
    still = tiny("lamaml", lr=1e-9, params={"alpha_init": 0.0, "glances": 1})
    start = weights(still)
    still.run_to_end()
    assert same(weights(still), start, atol=1e-6)
    fixed = tiny("lamaml", lr=1e-9, params={"alpha_init": 0.1, "glances": 1})
    fixed.run_to_end()
    assert all(torch.allclose(a.detach(), torch.full_like(a, 0.1), atol=1e-6) for a in fixed.strategy.alpha.values())
    assert not same(weights(fixed), start, atol=1e-3)


def test_lamaml_report_maps_the_first_layers_rates_per_unit():
    run = tiny("lamaml", hidden=(24,), params={"glances": 1})
    run.run_to_end()
    report = run.record.strategy_reports[-1]
    assert isinstance(report, LaMAMLReport)
    assert report.unit_maps.shape == (min(MAP_UNITS, 24), 28, 28) and len(report.units) == len(report.unit_maps)
    assert set(report.median_by_tensor) == set(run.strategy.weights)
    back = STRATEGIES["lamaml"].read_report(run.result()["strategy_reports"][-1])
    assert back.unit_maps is None and back.units == report.units  # the maps are too large for the JSON


# ---------------------------------------------------------------------------------------------------
# presets and the CLI


def test_paper_presets_build():
    names = [n for n in PRESETS if n.startswith(("mer-", "lamaml-"))]
    assert {"mer-split-mnist-200", "mer-split-mnist-500", "lamaml-rotated-mnist-200"} <= set(names)
    for name in names:
        make_config(**PRESETS[name])


def test_each_strategy_runs_from_the_cli(tmp_path):
    runs = {"mer": ["--param", "inner_steps=2", "--param", "beta=0.5"], "lamaml": ["--param", "glances=1"]}
    common = ["--no-recommended", "--tasks", "2", "--train-subset", "40", "--hidden", "16", "--buffer", "20"]
    done = run_each(tmp_path, runs, common + ["--eval-every", "0", "--eval-subset", "20"])
    for name, (code, stderr, result) in done.items():
        assert code == 0, f"{name}: {stderr}"
        assert result["status"] == "finished" and result["config"]["strategy"] == name
        assert len(result["acc_matrix"]) == 2
        assert result["step_stats"]["values"]
