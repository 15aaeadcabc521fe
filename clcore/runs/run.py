"""A continual-learning run that advances in small increments and reports as it goes.

    run = Run(make_config(strategy="er", buffer_size=200))
    while not run.done:
        for event in run.advance(seconds=0.1):   # or batches=1, until="epoch" / "task"
            ...
    result = run.result()                         # the JSON written by `python -m clcore run --out`

Training happens in a generator that yields at every batch boundary, so a caller (the CLI's loop,
the app's background thread) can pause, resume, step or stop between any two batches.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable

import torch

from clcore.data.benchmarks import build_benchmark
from clcore.errors import TrainingDiverged
from clcore.mechanics.buffer import ReplayBuffer
from clcore.models import build_model
from clcore.runs.evaluation import evaluate
from clcore.runs.events import BatchEnd, EpochEnd, Evaluation, RunEnd, TaskEnd
from clcore.runs.state import RunState
from clcore.settings.config import RunConfig, make_config, resolve_device
from clcore.strategies import REGISTRY, Batch

_MODEL_INIT_LOCK = threading.Lock()  # seeding the global RNG for weight init must not interleave
LIVE_EVALS_PER_TASK = 20
LIVE_EVAL_BUDGET = 2000  # test samples per live evaluation, over all tasks
GATHER_SAMPLES = 2048  # training samples fetched at once (then sliced into batches)


def auto_cpu_threads(model: str) -> int:
    """An MLP step is a few small matrix products dominated by per-operation overhead: one thread is
    as fast, and several threads collapse when other work shares the cores (measured here: 1,000
    batch-10 steps took 3.2 s on one thread and 30.5 s on two while another process was busy).
    Convolutional models get every core."""
    return 1 if model == "mlp" else max(1, os.cpu_count() or 1)


def make_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


@dataclasses.dataclass
class RunRecord:
    """Everything a run has reported so far, as plain lists: what the views and the JSON result read."""

    loss_steps: list = dataclasses.field(default_factory=list)
    loss: list = dataclasses.field(default_factory=list)
    samples_per_s: list = dataclasses.field(default_factory=list)
    evals: list = dataclasses.field(default_factory=list)  # Evaluation events
    matrix: dict = dataclasses.field(default_factory=dict)  # model -> rows R[i]
    matrix_task_il: dict = dataclasses.field(default_factory=dict)
    random_init: dict = dataclasses.field(default_factory=dict)  # model -> acc per task before training
    random_init_task_il: dict = dataclasses.field(default_factory=dict)
    task_boundaries: list = dataclasses.field(default_factory=list)  # step at each task end
    buffer_history: list = dataclasses.field(default_factory=list)  # (step, composition)
    step_stats: list = dataclasses.field(default_factory=list)  # (step, strategy's drained stats)
    strategy_reports: list = dataclasses.field(default_factory=list)  # one per task end


@dataclasses.dataclass
class Position:
    """Where a run's training goes on (what a checkpoint saves, clcore.runs.checkpoint): phase `phase`, begun
    (begin_task called) or not, epoch `epoch` after its first `batch` batches, whose sample order is `order`
    (None until the epoch draws it); `started`: the random-init evaluation is done."""

    started: bool = False
    phase: int = 0
    begun: bool = False
    epoch: int = 0
    batch: int = 0
    order: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class RunSnapshot:
    """One consistent copy of everything a live view draws (`Run.snapshot()`; from another thread,
    `BackgroundRun.snapshot()`, which takes the trainer's lock). The copies are the snapshot's own: the run
    can go on training while a page draws them."""

    state: RunState
    message: str
    step: int
    task: int  # the phase being trained (0-based)
    epoch: int
    epochs: int
    n_tasks: int
    total_steps: int
    elapsed: float  # seconds spent advancing
    speed: float | None  # training samples per second over the last reported window
    strategy: str
    benchmark: str
    scenario: str
    task_names: list
    class_names: list
    primary: str  # the model whose accuracy the run reports
    models: list  # every evaluated model
    offline: bool  # trains on all tasks at once (joint)
    has_task_il: bool
    boundaries: list  # step at each task end
    reports: list  # the strategy's report at each task end
    # the curves: empty in a snapshot taken with full=False
    matrix: dict = dataclasses.field(default_factory=dict)  # model -> accuracy rows R[i] so far
    matrix_til: dict = dataclasses.field(default_factory=dict)  # the same with Task-IL masking
    evals: list = dataclasses.field(default_factory=list)  # Evaluation events
    loss_steps: list = dataclasses.field(default_factory=list)
    loss: list = dataclasses.field(default_factory=list)
    buffer_history: list = dataclasses.field(default_factory=list)  # (step, composition)
    step_stats: list = dataclasses.field(default_factory=list)  # (step, the strategy's per-step statistics)
    buffer_samples: list = dataclasses.field(default_factory=list)  # (image HxW or HxWxC in [0, 1], class, task)

    @property
    def tasks_done(self) -> int:
        return len(self.boundaries)

    @property
    def done(self) -> bool:
        return self.state.terminal


def _buffer_samples(buffer, bench, per_task: int = 2, limit: int = 12) -> list:
    """A few stored examples of each task, un-normalised to images for display."""
    n = len(buffer)
    if not n:
        return []
    tasks = buffer.task[:n]
    picks = []
    for task in torch.unique(tasks).tolist():
        picks += torch.nonzero(tasks == task).flatten()[:per_task].tolist()
    picks = picks[:limit]
    x = buffer.x[picks].detach().float().cpu()
    mean, std = bench.data.mean, bench.data.std
    x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    images = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return [
        (img[:, :, 0] if img.shape[2] == 1 else img, y, task)
        for img, y, task in zip(images, buffer.y[picks].tolist(), buffer.task[picks].tolist())
    ]


class Run:
    def __init__(self, config: RunConfig | dict | None = None, *, validation: bool = False, **settings):
        """`validation=True` evaluates on a hold-out of the training data, not the test set (for tuning)."""
        given = config.to_dict() if isinstance(config, RunConfig) else dict(config or {})
        config = make_config(**{**given, **settings})  # always validated, whoever built it
        self.device = resolve_device(config.device)
        self.benchmark = build_benchmark(
            config.benchmark,
            n_tasks=config.n_tasks,
            classes=config.classes,
            scenario=config.scenario,
            train_subset=config.train_subset,
            seed=config.seed,
            device=self.device,
            validation=validation,
            blurry=config.blurry,
        )
        bench = self.benchmark
        cls = REGISTRY[config.strategy]
        self.generator = torch.Generator().manual_seed(config.seed)
        buffer = (
            ReplayBuffer(config.buffer_size, bench.n_classes, self.device, config.buffer_policy, self.generator)
            if cls.uses_buffer
            else None
        )
        # The strategy's own networks (DualNet's fast layers, a generative replay's VAE, ...) are initialised
        # with the global RNG too: seeded with the model, so that a run is the same in any process at any time.
        with _MODEL_INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_model(config.model, bench.data.image_shape, bench.n_classes, config.hidden).to(self.device)
            self.strategy = cls(
                model,
                make_optimizer(config, model.parameters()),
                bench,
                buffer,
                self.generator,
                config.replay_batch_size,
                config.params,
            )

        self.phases = cls.training_phases(bench.tasks)
        self.total_steps = (
            sum(math.ceil(sum(len(t.train_idx) for t in tasks) / config.batch_size) for tasks in self.phases)
            * config.epochs
        )
        steps_per_task = math.ceil(max(len(t.train_idx) for t in bench.tasks) / config.batch_size) * config.epochs
        eval_subset = config.eval_subset or max(100, min(1000, LIVE_EVAL_BUDGET // len(bench.tasks)))
        # About LIVE_EVALS_PER_TASK curve points per task, but never so often that live evaluation
        # (forward passes only, about a third of a training sample's cost) outweighs training.
        eval_every = (
            config.eval_every
            if config.eval_every is not None
            else max(
                1,
                steps_per_task // LIVE_EVALS_PER_TASK,
                math.ceil(eval_subset * len(bench.tasks) / (3 * config.batch_size)),
            )
        )
        classes = "|".join(",".join(map(str, t.classes)) for t in bench.tasks) if bench.has_task_il else None
        self.config = dataclasses.replace(  # fully resolved: what reproduces this run
            config,
            n_tasks=len(bench.tasks),
            scenario=bench.scenario,
            classes=classes,
            device=str(self.device),
            eval_every=eval_every,
            eval_subset=eval_subset,
            cpu_threads=config.cpu_threads or auto_cpu_threads(config.model),
        )

        self.validation = validation
        self.record = RunRecord()
        self.position = Position()
        self.advancing = False  # inside advance(): no consistent state to checkpoint
        self.status = RunState.READY  # READY -> RUNNING -> FINISHED | STOPPED | FAILED
        self.message = ""
        self.step = self.task = self.epoch = 0
        self.train_samples = 0
        self.active_s = self.train_s = 0.0
        self._listeners: list[Callable] = []
        self._pending: list = []
        self._steps = self._training()
        self._window = {"loss": None, "steps": 0, "samples": 0, "seconds": 0.0}

    # public API --------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.status.terminal

    @property
    def n_tasks(self) -> int:
        return len(self.benchmark.tasks)

    @property
    def primary_model(self) -> str:
        return next(iter(self.strategy.evaluation_models()))

    def snapshot(self, full: bool = True) -> RunSnapshot:
        """A copy of the run's progress; `full=False` leaves out the curves and buffer samples (a cheap
        status read). Not thread-safe by itself: while another thread advances the run, use
        BackgroundRun.snapshot()."""
        rec, bench, strategy = self.record, self.benchmark, self.strategy
        curves = {}
        if full:
            curves = dict(
                matrix={m: [list(r) for r in rows] for m, rows in rec.matrix.items()},
                matrix_til={m: [list(r) for r in rows] for m, rows in rec.matrix_task_il.items()},
                evals=list(rec.evals),
                loss_steps=list(rec.loss_steps),
                loss=list(rec.loss),
                buffer_history=list(rec.buffer_history),
                step_stats=list(rec.step_stats),
                buffer_samples=_buffer_samples(strategy.buffer, bench) if strategy.buffer is not None else [],
            )
        return RunSnapshot(
            state=self.status,
            message=self.message,
            step=self.step,
            task=self.task,
            epoch=self.epoch,
            epochs=self.config.epochs,
            n_tasks=self.n_tasks,
            total_steps=self.total_steps,
            elapsed=self.active_s,
            speed=rec.samples_per_s[-1] if rec.samples_per_s else None,
            strategy=self.config.strategy,
            benchmark=self.config.benchmark,
            scenario=bench.scenario,
            task_names=[task.name for task in bench.tasks],
            class_names=list(bench.data.class_names),
            primary=self.primary_model,
            models=list(strategy.evaluation_models()),
            offline=strategy.trains_offline,
            has_task_il=bench.has_task_il,
            boundaries=list(rec.task_boundaries),
            reports=list(rec.strategy_reports),
            **curves,
        )

    def subscribe(self, listener: Callable) -> None:
        """Call `listener(event)` for every event from now on (in the thread that advances the run)."""
        self._listeners.append(listener)

    def advance(self, batches: int | None = None, seconds: float | None = None, until: str | None = None) -> list:
        """Train until `batches` more batches, `seconds` elapsed, or the end of the current "batch",
        "epoch" or "task" (whichever comes first; none given: to the end). Returns the events emitted."""
        if until not in (None, "batch", "epoch", "task"):
            raise ValueError("until must be 'batch', 'epoch' or 'task'")
        self._pending = []
        if self.done:
            return []
        self.status = RunState.RUNNING
        if self.device.type == "cpu" and torch.get_num_threads() != self.config.cpu_threads:
            torch.set_num_threads(self.config.cpu_threads)  # process-wide: see auto_cpu_threads
        start = time.perf_counter()
        done_batches = 0
        self.advancing = True
        try:
            for boundary in self._steps:
                done_batches += boundary == "batch"
                if (
                    (batches is not None and done_batches >= batches)
                    or until == boundary
                    or (until == "epoch" and boundary == "task")
                    or (seconds is not None and time.perf_counter() - start >= seconds)
                ):
                    break
        except TrainingDiverged as error:
            self._finish(RunState.FAILED, str(error))
        except KeyboardInterrupt:  # Ctrl-C: a stop by the user, not a failure (results so far are kept)
            self._finish(RunState.STOPPED, "interrupted (Ctrl-C)")
            raise
        except BaseException as error:
            self._finish(RunState.FAILED, f"{type(error).__name__}: {error}")
            raise
        finally:
            self.advancing = False
            self.active_s += time.perf_counter() - start
        return self._pending

    def run_to_end(self) -> dict:
        while not self.done:
            self.advance(seconds=1.0)
        return self.result()

    def stop(self, message: str = "stopped by the user") -> None:
        """End the run at the current batch boundary, keeping everything measured so far."""
        if not self.done:
            self._steps.close()
            self._finish(RunState.STOPPED, message)

    # training ----------------------------------------------------------------------------------
    def _emit(self, event) -> None:
        self._pending.append(event)
        for listener in self._listeners:
            listener(event)

    def _finish(self, status: RunState, message: str = "") -> None:
        self.status, self.message = status, message
        self._emit(RunEnd(status, message))

    def _phase_batches(self, tasks):
        """A function that turns an epoch's order of the phase's combined stream into its batches
        (x, y, task ids), and the stream's length. Usually one task per phase (see Strategy.training_phases)."""
        bench, batch_size = self.benchmark, self.config.batch_size
        sizes = torch.tensor([len(t.train_idx) for t in tasks])
        if len(tasks) == 1:
            task = tasks[0]
            # one gather for many batches, which are then views of it: a gather costs as much as a small step's
            # arithmetic
            chunk = batch_size * max(1, GATHER_SAMPLES // batch_size)

            def single(order):
                for begin in range(0, len(order), chunk):
                    x, y = bench.train_batch(task, order[begin : begin + chunk])
                    task_ids = torch.full_like(y, task.index)
                    for start in range(0, len(y), batch_size):
                        end = start + batch_size
                        yield x[start:end], y[start:end], task_ids[start:end]

            return single, int(sizes[0])
        task_of = torch.repeat_interleave(torch.arange(len(tasks)), sizes).to(self.device)
        offset = torch.cat([torch.zeros(1, dtype=torch.int64), sizes.cumsum(0)[:-1]]).to(self.device)

        def mixed(order):
            for start in range(0, len(order), batch_size):
                positions = order[start : start + batch_size]
                owner = task_of[positions]
                xs, ys, ts = [], [], []
                for k in owner.unique().tolist():
                    chosen = positions[owner == k]
                    x, y = bench.train_batch(tasks[k], chosen - offset[k])
                    xs.append(x), ys.append(y), ts.append(torch.full_like(y, tasks[k].index))
                yield torch.cat(xs), torch.cat(ys), torch.cat(ts)

        return mixed, int(sizes.sum())

    def _training(self):
        """Training from `self.position` (the start, or where a checkpoint left it), kept up to date at every
        boundary it yields at."""
        cfg, bench, strategy, at = self.config, self.benchmark, self.strategy, self.position
        if not at.started:
            self._evaluate(full=True, initial=True)
            at.started = True
        while at.phase < len(self.phases):
            phase_index = at.phase
            self.task = phase_index
            if not at.begun:
                strategy.begin_task(phase_index)
                at.begun = True
            make_batches, n = self._phase_batches(self.phases[phase_index])
            while at.epoch < cfg.epochs:
                epoch = self.epoch = at.epoch
                if at.order is None:
                    at.order = bench.epoch_order(n, self.generator, shuffle_stream=strategy.trains_offline)
                began = time.perf_counter()  # the step's time includes fetching its batch
                for x, y, task_ids in make_batches(at.order[at.batch * cfg.batch_size :]):
                    raw = x
                    if bench.augment is not None:
                        x = bench.augment(x, self.generator)
                    loss = strategy.observe(Batch(x, y, task_ids, raw))
                    w = self._window
                    w["loss"] = loss if w["loss"] is None else w["loss"] + loss
                    w["steps"] += 1
                    w["samples"] += len(y)
                    w["seconds"] += time.perf_counter() - began
                    self.step += 1
                    at.batch += 1
                    if self.step % cfg.log_every == 0:
                        self._report()
                    if cfg.eval_every and self.step % cfg.eval_every == 0:
                        self._evaluate(full=False)
                    yield "batch"
                    began = time.perf_counter()
                self._report()
                at.epoch, at.batch, at.order = epoch + 1, 0, None
                self._emit(EpochEnd(self.step, phase_index, epoch))
                yield "epoch"
            strategy.end_task(phase_index)
            self._check_weights_finite(phase_index)
            self._report()
            row = self._evaluate(full=True)
            self.record.task_boundaries.append(self.step)
            report = strategy.task_end_report()
            self.record.strategy_reports.append(report)
            composition = strategy.buffer.composition(self.n_tasks) if strategy.buffer is not None else None
            if composition is not None:
                self.record.buffer_history.append((self.step, composition))
            at.phase, at.begun, at.epoch = phase_index + 1, False, 0
            self._emit(TaskEnd(self.step, phase_index, row, report, composition))
            yield "task"
        self._finish(RunState.FINISHED)

    def _check_weights_finite(self, phase_index: int) -> None:
        """End-of-task updates (P&C's compress, GDumb's retraining, ...) train outside observe(), whose loss
        is checked per window: a divergence there must fail the run too, not score NaN weights."""
        for name, model in self.strategy.evaluation_models().items():
            if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                raise TrainingDiverged(
                    f"the {name} model's weights became non-finite in {self.config.strategy}'s end-of-task update "
                    f"(task {phase_index + 1}); lower the learning rate (now {self.config.lr}) or the strategy's "
                    f"weights and run again"
                )

    def _report(self) -> None:
        w = self._window
        if not w["steps"]:
            return
        began = time.perf_counter()
        loss = float(w["loss"]) / w["steps"]  # the only device sync of the window
        w["seconds"] += time.perf_counter() - began
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss} at step {self.step} (task {self.task + 1}, epoch {self.epoch + 1}); "
                f"lower the learning rate (now {self.config.lr}) or the strategy's weights and run again"
            )
        speed = w["samples"] / max(w["seconds"], 1e-9)
        self.train_samples += w["samples"]
        self.train_s += w["seconds"]
        rec = self.record
        rec.loss_steps.append(self.step)
        rec.loss.append(loss)
        rec.samples_per_s.append(speed)
        stats = self.strategy.drain_step_stats()
        if stats is not None:
            rec.step_stats.append((self.step, stats))
        if self.strategy.buffer is not None and (not rec.buffer_history or rec.buffer_history[-1][0] != self.step):
            rec.buffer_history.append((self.step, self.strategy.buffer.composition(self.n_tasks)))
        self._window = {"loss": None, "steps": 0, "samples": 0, "seconds": 0.0}
        self._emit(BatchEnd(self.step, self.task, self.epoch, loss, speed, self.active_s))

    def _evaluate(self, full: bool, initial: bool = False):
        models = self.strategy.evaluation_models()
        acc, acc_task_il = evaluate(models, self.benchmark, None if full else self.config.eval_subset)
        rec = self.record
        if initial:
            rec.random_init, rec.random_init_task_il = acc, acc_task_il or {}
        elif full:
            for name in models:
                rec.matrix.setdefault(name, []).append(acc[name])
                if acc_task_il:
                    rec.matrix_task_il.setdefault(name, []).append(acc_task_il[name])
        event = Evaluation(self.step, self.task, full, acc, acc_task_il)
        rec.evals.append(event)
        self._emit(event)
        return acc[self.primary_model]

    # results -----------------------------------------------------------------------------------
    def result(self) -> dict:
        from clcore.runs.results import build_result

        return build_result(self)
