"""Task-free streams: MNIST-360 (clcore.data.stream, the DER paper's general continual learning benchmark) and
blurry boundaries for split benchmarks; strategies that need task boundaries say so."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from clcore import STRATEGIES, ConfigError, Run, make_config
from clcore.data import datasets
from clcore.data.benchmarks import BENCHMARKS, BOUNDARY_NOTES, boundary_caveat, boundary_note, build_benchmark
from clcore.data.stream import MNIST360_CHUNKS, MNIST360_CLASSES, MNIST360_ROUNDS, blur_tasks, rotate_each
from clcore.settings.config import validate
from pages.shared import i18n
from tests.cli_support import run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def stream():
    return build_benchmark("mnist-360", seed=0)


def pairs_of(labels: list[int]) -> list[tuple[int, int]]:
    """The stream's class pairs in order: a class not in the current pair starts the next pair, which keeps the
    class just below it (pairs (c, c + 1) follow each other)."""
    pairs, current = [], set(labels[:1])
    for label in labels:
        if label in current:
            continue
        if len(current) < 2:
            current.add(label)
            continue
        pairs.append(tuple(sorted(current)))
        kept = (label - 1) % MNIST360_CLASSES
        assert kept in current, (sorted(current), label)
        current = {kept, label}
    pairs.append(tuple(sorted(current)))
    return pairs


def test_mnist360_is_built_offline_from_the_bundled_mnist(tmp_path, monkeypatch, stream):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))  # an empty download folder: nothing to read there
    datasets.clear_cache()
    data = datasets.load_dataset("mnist-360")
    mnist = datasets.load_dataset("mnist")
    assert BENCHMARKS["mnist-360"].bundled and list(tmp_path.iterdir()) == []
    assert data.x_train is mnist.x_train and data.y_train is mnist.y_train  # shared, not copied
    assert data.class_names == tuple(str(c) for c in range(MNIST360_CLASSES))
    # the test set: the digits 0-8 of MNIST's test set, the i-th of a class's n turned by i * 360 / n degrees
    for label in (0, 4, 8):
        original = mnist.x_test[mnist.y_test == label]
        rotated = data.x_test[data.y_test == label]
        n = len(original)
        assert len(rotated) == n
        torch.testing.assert_close(rotated[0], rotate_each(original[:1], torch.zeros(1))[0])
        i = n // 4
        torch.testing.assert_close(rotated[i], rotate_each(original[i : i + 1], torch.tensor([i * 360.0 / n]))[0])
    assert sorted(data.y_test.unique().tolist()) == list(range(MNIST360_CLASSES))
    assert stream.n_classes == MNIST360_CLASSES and stream.scenario == "class-il" and not stream.has_task_il


def test_mnist360_presents_pairs_of_recurring_classes_without_boundaries(stream):
    assert len(stream.tasks) == 1 and stream.task_free  # one phase: no task boundary inside the stream
    task = stream.tasks[0]
    labels = stream.data.y_train[task.train_idx].tolist()
    # as many draws as there are training images of the digits 0-8, each class its own count, drawn with
    # replacement (mammoth's loader): about 1 - 1/e of the images appear, some of them more than once
    wanted = torch.nonzero(stream.data.y_train < MNIST360_CLASSES).flatten()
    assert len(task.train_idx) == len(wanted) and set(task.train_idx.tolist()) <= set(wanted.tolist())
    for label in range(MNIST360_CLASSES):
        assert labels.count(label) == int((stream.data.y_train == label).sum())
    distinct = len(task.train_idx.unique()) / len(wanted)
    assert 0.6 < distinct < 0.67
    # each draw comes from its own chunk: the first pair's zeros from the last sixth of the zeros (popped first)
    zeros = torch.nonzero(stream.data.y_train == 0).flatten()
    last_chunk = set(torch.tensor_split(zeros, MNIST360_CHUNKS)[-1].tolist())
    first_pair = task.train_idx[: len(labels) // (MNIST360_ROUNDS * MNIST360_CLASSES)]
    first_zeros = first_pair[stream.data.y_train[first_pair] == 0].tolist()
    assert first_zeros and set(first_zeros) <= last_chunk
    # (0,1), (1,2), ..., (8,0), three rounds: every class comes back in 2 x 3 pairs
    one_round = [tuple(sorted((c, (c + 1) % MNIST360_CLASSES))) for c in range(MNIST360_CLASSES)]
    assert pairs_of(labels) == one_round * MNIST360_ROUNDS
    # within a pair both classes stream side by side, in proportion, not one after the other
    first = labels[: len(labels) // (MNIST360_ROUNDS * MNIST360_CLASSES)]
    halves = first[: len(first) // 2], first[len(first) // 2 :]
    assert all(0.3 < half.count(0) / len(half) < 0.7 for half in halves)


def test_mnist360_rotation_turns_each_class_continuously(stream):
    task = stream.tasks[0]
    labels = stream.data.y_train[task.train_idx]
    for label in range(MNIST360_CLASSES):
        angles = task.train_angles[labels == label].double()
        n = len(angles)
        assert angles[0].item() == pytest.approx(((label - 1) * 60) % 360)
        steps = (angles[1:] - angles[:-1]).remainder(360.0)
        assert torch.allclose(steps, torch.full_like(steps, 360.0 / n), atol=1e-3)  # one small step per image
        # a full turn over the stream: the angles spread over the whole circle
        assert (angles.max() - angles.min()).item() > 355.0
    # the batch the run trains on is rotated by each image's own angle
    positions = torch.arange(3)
    x, y = stream.train_batch(task, positions)
    raw = stream.data.x_train[task.train_idx[positions]]
    torch.testing.assert_close(x, rotate_each(raw, task.train_angles[positions]))
    assert not torch.equal(x[1], raw[1])  # a class that starts turned (digit 0 at 300 degrees)


def test_mnist360_subset_keeps_the_stream_shape():
    small = build_benchmark("mnist-360", seed=3, train_subset=180)
    labels = small.data.y_train[small.tasks[0].train_idx].tolist()
    assert len(labels) == 180 and all(labels.count(c) == 20 for c in range(MNIST360_CLASSES))
    one_round = [tuple(sorted((c, (c + 1) % MNIST360_CLASSES))) for c in range(MNIST360_CLASSES)]
    assert pairs_of(labels) == one_round * MNIST360_ROUNDS
    again = build_benchmark("mnist-360", seed=3, train_subset=180)
    other = build_benchmark("mnist-360", seed=4, train_subset=180)
    assert torch.equal(small.tasks[0].train_idx, again.tasks[0].train_idx)
    assert not torch.equal(small.tasks[0].train_idx, other.tasks[0].train_idx)


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_blurry_moves_the_share_of_each_task_into_its_neighbours(share):
    clean = build_benchmark("split-mnist", seed=1, train_subset=400)
    blurry = build_benchmark("split-mnist", seed=1, train_subset=400, blurry=share)
    assert blurry.task_free and not clean.task_free
    before = torch.cat([t.train_idx for t in clean.tasks])
    after = torch.cat([t.train_idx for t in blurry.tasks])
    assert torch.equal(before.sort().values, after.sort().values)  # none lost, none duplicated
    y = blurry.data.y_train
    n = len(clean.tasks)
    for t, task in enumerate(clean.tasks):
        own = set(task.classes)
        moved = math.floor(share * len(task.train_idx))
        neighbours = [u for u in (t - 1, t + 1) if 0 <= u < n]
        arrived = {u: sum(int(c) in own for c in y[blurry.tasks[u].train_idx].tolist()) for u in range(n)}
        assert arrived[t] == len(task.train_idx) - moved
        assert sum(arrived[u] for u in neighbours) == moved
        assert all(arrived[u] == 0 for u in range(n) if u != t and u not in neighbours)
        if len(neighbours) == 2:  # half to the task before, half to the task after
            assert abs(arrived[t - 1] - arrived[t + 1]) <= 1


def test_blur_tasks_with_no_share_keeps_every_task():
    tasks = [torch.arange(0, 10), torch.arange(10, 30)]
    mixed = blur_tasks(tasks, 0.0, torch.Generator().manual_seed(0))
    assert [sorted(m.tolist()) for m in mixed] == [t.tolist() for t in tasks]


def test_bad_task_free_settings_get_one_clear_line():
    with pytest.raises(ConfigError) as error:
        make_config(blurry=0.7)
    assert error.value.setting == "blurry" and error.value.code == "between"
    cases = [
        (dict(benchmark="split-mnist", scenario="task-il", blurry=0.2), "blurry", "blurry_needs_class_il"),
        (dict(benchmark="split-mnist", classes="0,1,2,3,4,5,6,7,8,9", blurry=0.2), "blurry", "blurry_needs_two_tasks"),
        (dict(benchmark="permuted-mnist", blurry=0.2), "blurry", "blurry_needs_class_il"),
        (dict(benchmark="mnist-360", n_tasks=5), "n_tasks", "stream_has_no_tasks"),
        (dict(benchmark="mnist-360", scenario="task-il"), "scenario", "scenario_unsupported"),
        (dict(benchmark="mnist-360", strategy="generative_negative_replay"), "benchmark", "needs_new_classes"),
    ]
    for settings, setting, code in cases:
        # validate(): the same message beside its control before Play, without loading any data
        for check, argument in ((lambda s: Run(make_config(train_subset=20, **s)), settings), (validate, settings)):
            with pytest.raises(ConfigError) as error:
                check(argument)
            assert (error.value.setting, error.value.code) == (setting, code), settings
            assert "\n" not in str(error.value)


def test_the_command_line_says_when_the_method_needs_boundaries_the_sequence_lacks():
    code, stderr = run_cli(["run", "--benchmark", "mnist-360", "--strategy", "ewc", "--train-subset", "50", "--quiet"])
    assert code == 0 and stderr == ""  # --quiet: errors only
    code, stderr = run_cli(["run", "--benchmark", "mnist-360", "--strategy", "ewc", "--train-subset", "50"])
    assert code == 0 and f"clcore: note: {boundary_note(STRATEGIES['ewc'], 'mnist-360')}" in stderr
    code, stderr = run_cli(
        ["run", "--benchmark", "mnist-360", "--strategy", "er", "--train-subset", "50", "--buffer-size", "20"]
    )
    assert code == 0 and "note:" not in stderr


def test_strategies_that_need_boundaries_are_flagged_on_task_free_sequences():
    for name, cls in STRATEGIES.items():
        if cls.needs_task_id:  # a part per task is nothing without tasks
            assert cls.needs_boundaries == "per_task_parts", name
    flagged = {name for name, cls in STRATEGIES.items() if cls.needs_boundaries}
    assert {"ewc", "si", "lwf", "gem", "agem", "icarl", "gdumb", "pnn"} <= flagged
    assert not flagged & {"finetune", "joint", "er", "der", "derpp", "mer", "clser"}
    assert boundary_caveat(STRATEGIES["mir"], "mnist-360") == "earlier_task_replay"  # it retrieves earlier tasks only
    assert boundary_caveat(STRATEGIES["ewc"], "mnist-360") == "importance"
    assert boundary_caveat(STRATEGIES["agem"], "mnist-360") == "earlier_tasks"  # inherited from GEM
    assert boundary_caveat(STRATEGIES["ewc"], "split-mnist") is None  # clean boundaries
    assert boundary_caveat(STRATEGIES["ewc"], "split-mnist", blurry=0.2) == "blurry"
    assert boundary_caveat(STRATEGIES["er"], "mnist-360") is None
    assert boundary_note(STRATEGIES["er"], "mnist-360") is None
    assert "mnist-360" in boundary_note(STRATEGIES["lwf"], "mnist-360")
    assert "20 %" in boundary_note(STRATEGIES["gem"], "split-mnist", 0.2)
    en, zh = i18n.catalog("en"), i18n.catalog("zh")
    for reason in {cls.needs_boundaries for cls in STRATEGIES.values() if cls.needs_boundaries} | {"blurry"}:
        assert reason in BOUNDARY_NOTES and f"expect.boundary.{reason}" in en and f"expect.boundary.{reason}" in zh


def tiny_stream_run(strategy: str, **settings) -> Run:
    tiny = dict(train_subset=270, batch_size=10, lr=0.1, eval_every=3, eval_subset=200, device="cpu", seed=2)
    return Run(make_config(strategy=strategy, benchmark="mnist-360", **{**tiny, **settings}))


def test_a_tiny_er_run_on_mnist360_streams_in_order_and_is_evaluated_along_the_stream():
    run = tiny_stream_run("er", buffer_size=50)
    seen = []
    original = run.strategy.observe
    run.strategy.observe = lambda batch: seen.append(batch.y.clone()) or original(batch)
    result = run.run_to_end()
    assert result["status"] == "finished"
    task = run.benchmark.tasks[0]
    assert torch.equal(torch.cat(seen), run.benchmark.data.y_train[task.train_idx])  # the stream's own order
    assert run.step == 27 and run.record.task_boundaries == [27]  # one phase: no boundary inside the stream
    assert len(result["acc_matrix"]) == 1 and len(result["acc_matrix"][0]) == 1
    live = [e for e in run.record.evals if not e.full]
    assert [e.step for e in live] == list(range(3, 28, 3))  # evaluation points along the stream
    assert all(0.0 <= e.acc["student"][0] <= 100.0 for e in live)
    assert result["acc_matrix"][0][0] > 100.0 / MNIST360_CLASSES  # it learnt something


def test_joint_on_a_stream_shuffles_it():
    run = tiny_stream_run("joint", eval_every=0)
    seen = []
    original = run.strategy.observe
    run.strategy.observe = lambda batch: seen.append(batch.y.clone()) or original(batch)
    run.run_to_end()
    streamed = run.benchmark.data.y_train[run.benchmark.tasks[0].train_idx]
    trained = torch.cat(seen)
    assert not torch.equal(trained, streamed) and torch.equal(trained.sort().values, streamed.sort().values)


def test_blurry_runs_train_on_the_mixed_tasks():
    run = Run(
        make_config(
            strategy="finetune", benchmark="split-mnist", train_subset=100, blurry=0.3, eval_every=0, device="cpu"
        )
    )
    labels = []
    original = run.strategy.observe
    run.strategy.observe = lambda batch: labels.append(batch.y.tolist()) or original(batch)
    run.run_to_end()
    batches = math.ceil(len(run.benchmark.tasks[0].train_idx) / 10)
    first_task = list(itertools.chain(*labels[:batches]))
    assert {2, 3} & set(first_task) and set(first_task) <= {0, 1, 2, 3}
