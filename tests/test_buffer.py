"""ReplayBuffer: reservoir sampling (statistically uniform, and identical to the sequential algorithm),
the class-balanced policy, stored task ids / logits, sampling and composition."""

import math

import numpy as np
import pytest
import torch

from clcore.mechanics.buffer import ReplayBuffer

N_CLASSES = 10


def label_of(ids: torch.Tensor) -> torch.Tensor:
    return ids % N_CLASSES


def logits_of(ids: torch.Tensor) -> torch.Tensor:
    """A distinct, recognisable logit row per stream item."""
    return torch.stack([ids.double() + k / 10 for k in range(N_CLASSES)], 1).float()


def add_ids(buf: ReplayBuffer, ids: torch.Tensor, task, with_logits=True):
    """Stream items identified by their id: x = id, y = id % 10, logits derived from id."""
    buf.add(ids.clone(), label_of(ids), task, logits_of(ids) if with_logits else None)


def assert_rows_consistent(buf: ReplayBuffer, task_of_id=None):
    """Every filled slot holds one stream item whole: its label, logits (and task) belong to its x."""
    ids = buf.x[: buf.filled]
    assert torch.equal(buf.y[: buf.filled], label_of(ids))
    if buf.logits is not None:
        assert torch.equal(buf.logits[: buf.filled], logits_of(ids))
    if task_of_id is not None:
        assert torch.equal(buf.task[: buf.filled], task_of_id(ids))


# ---------------------------------------------------------------------------------------------------
# reservoir: statistics

STREAM = 1000
CAPACITY = 100
# Batches of 10..60 (mixed, so batch boundaries fall everywhere); the 10th ends exactly at 300 seen.
BATCHES = [10, 23, 37, 50, 30] * 6 + [40, 60]
CHECKPOINT = 300
REPETITIONS = 300


def _chi_square(counts: np.ndarray, reps: int, p: float) -> float:
    """Pearson's statistic for inclusion counts against 'every item kept with probability p'.

    Each repetition keeps exactly `capacity` items without replacement, so a count's variance is
    reps*p*(1-p) (binomial), not reps*p: dividing by (1-p) makes the statistic chi-square-like with
    n - 1 degrees of freedom (the total is fixed)."""
    expected = reps * p
    return float(((counts - expected) ** 2).sum() / (expected * (1 - p)))


def test_batch_plan_is_what_the_statistics_assume():
    assert sum(BATCHES) == STREAM and min(BATCHES) >= 10
    assert CHECKPOINT in np.cumsum(BATCHES)


def test_reservoir_keeps_every_seen_example_with_equal_probability():
    counts = np.zeros(STREAM)
    counts_at_checkpoint = np.zeros(CHECKPOINT)
    for rep in range(REPETITIONS):
        buf = ReplayBuffer(CAPACITY, N_CLASSES, generator=torch.Generator().manual_seed(1000 + rep))
        start = 0
        for size in BATCHES:
            add_ids(buf, torch.arange(start, start + size), task=0, with_logits=False)
            start += size
            if start == CHECKPOINT:
                kept = buf.x[: buf.filled].numpy()
                assert len(np.unique(kept)) == CAPACITY
                counts_at_checkpoint[kept] += 1
        assert buf.seen == STREAM and len(buf) == CAPACITY
        kept = buf.x.numpy()
        assert len(np.unique(kept)) == CAPACITY  # no item stored twice
        counts[kept] += 1
    assert_rows_consistent(buf)

    # Chi-square against uniform inclusion, threshold mean + 5 sd of chi-square(df) = df + 5 sqrt(2 df).
    for c, seen in ((counts, STREAM), (counts_at_checkpoint, CHECKPOINT)):
        p = CAPACITY / seen
        df = seen - 1
        stat = _chi_square(c, REPETITIONS, p)
        assert stat < df + 5 * math.sqrt(2 * df), (seen, stat)

        # Marginal inclusion probability = capacity / seen, for every block of 100 stream positions
        # (early, middle and late items alike). Tolerance: 5 binomial sd of a block's rate.
        rates = c.reshape(-1, 100).sum(1) / (100 * REPETITIONS)
        tol = 5 * math.sqrt(p * (1 - p) / (100 * REPETITIONS))
        assert np.all(np.abs(rates - p) < tol), (seen, rates, p)
        assert abs(c.mean() / REPETITIONS - p) < 1e-12  # exactly `capacity` kept per repetition


def _sequential_reference(cap: int, batches: list[torch.Tensor], draws: torch.Generator):
    """Textbook reservoir sampling, one item at a time, with the same uniform draws as the buffer
    (one float64 torch.rand of the batch's length per add call): item number n (0-based) goes to
    slot n while n < cap, else to slot floor(u * (n + 1)) when that is < cap. Later items overwrite."""
    store = [None] * cap
    seen = 0
    collisions = 0
    states = []
    for ids in batches:
        u = torch.rand(len(ids), generator=draws, dtype=torch.float64).tolist()
        written = set()
        for i, item in enumerate(ids.tolist()):
            n = seen + i
            slot = n if n < cap else int(u[i] * (n + 1))
            if slot < cap:
                collisions += slot in written
                written.add(slot)
                store[slot] = item
        seen += len(ids)
        states.append((list(store), seen))
    return states, collisions


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_reservoir_equals_sequential_algorithm(seed):
    cap = 5
    # The first batch alone is larger than the capacity; later batches are small and large, so many
    # samples of one batch draw the same slot (the later one must win, as sequentially).
    sizes = [40, 3, 1, 12, 7, 64, 2, 33, 100, 9]
    batches, start = [], 0
    for size in sizes:
        batches.append(torch.arange(start, start + size))
        start += size
    states, collisions = _sequential_reference(cap, batches, torch.Generator().manual_seed(seed))
    assert collisions > 0  # the case this test is about does occur

    buf = ReplayBuffer(cap, N_CLASSES, generator=torch.Generator().manual_seed(seed))
    for t, (ids, (store, seen)) in enumerate(zip(batches, states)):
        add_ids(buf, ids, task=t)
        assert buf.seen == seen
        assert len(buf) == min(cap, seen)
        assert buf.x[: len(buf)].tolist() == store[: len(buf)], f"after batch {t}"
        assert_rows_consistent(buf)
    # task ids: item id -> the batch it came in
    bounds = torch.tensor(np.cumsum(sizes))
    assert torch.equal(buf.task, torch.bucketize(buf.x, bounds, right=True))


def test_partial_first_batch_fills_slots_in_order():
    buf = ReplayBuffer(8, N_CLASSES, generator=torch.Generator().manual_seed(0))
    add_ids(buf, torch.arange(3), task=0)
    assert len(buf) == 3 and buf.seen == 3
    assert buf.x[:3].tolist() == [0, 1, 2]
    add_ids(buf, torch.arange(3, 8), task=1)
    assert buf.x.tolist() == list(range(8))
    assert buf.task.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


def test_zero_capacity_buffer_stores_nothing():
    buf = ReplayBuffer(0, N_CLASSES)
    add_ids(buf, torch.arange(10), task=0)
    assert len(buf) == 0
    assert buf.composition(2) == {"classes": [0] * N_CLASSES, "tasks": [0, 0], "size": 0}


# ---------------------------------------------------------------------------------------------------
# stored task ids and logits


@pytest.mark.parametrize("policy", ["reservoir", "balanced"])
def test_task_ids_and_logits_stored_with_their_samples(policy):
    buf = ReplayBuffer(30, N_CLASSES, policy=policy, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(4)
    # tasks as an int per batch, and as a per-sample tensor (joint training mixes tasks in a batch);
    # the first batches hold even labels only, so that the mixed batch (all labels) also gets into a
    # class-balanced buffer
    for t in range(4):
        ids = torch.arange(100 * t, 100 * t + 50, 2)
        add_ids(buf, ids, task=t)
    ids = torch.arange(1000, 1060)
    per_sample_task = torch.randint(0, 4, (60,), generator=gen)
    buf.add(ids.clone(), label_of(ids), per_sample_task, logits_of(ids))
    assert len(buf) == 30
    assert buf.logits.shape == (30, N_CLASSES)

    def task_of_id(x):
        mapped = torch.where(x < 1000, x // 100, torch.zeros_like(x))
        from_mixed = per_sample_task[(x - 1000).clamp(0, 59)]
        return torch.where(x >= 1000, from_mixed, mapped)

    assert_rows_consistent(buf, task_of_id)
    assert (buf.x >= 1000).any()  # the mixed batch did land in the buffer


def test_logits_are_detached_copies():
    buf = ReplayBuffer(4, N_CLASSES)
    ids = torch.arange(4)
    logits = logits_of(ids).requires_grad_(True)
    buf.add(ids, label_of(ids), 0, logits)
    assert not buf.logits.requires_grad
    with torch.no_grad():
        logits.add_(1.0)
    assert torch.equal(buf.logits, logits_of(ids))


# ---------------------------------------------------------------------------------------------------
# balanced policy


def _class_counts(buf):
    return np.bincount(buf.y[: buf.filled].numpy(), minlength=N_CLASSES)


def test_balanced_policy_converges_and_stays_balanced():
    cap = 53  # not a multiple of the class count: balanced means counts 5 or 6
    buf = ReplayBuffer(cap, N_CLASSES, policy="balanced", generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    balanced_since = None
    for b in range(300):
        ids = torch.randint(0, 10**6, (10,), generator=gen) * N_CLASSES + torch.randint(
            0, N_CLASSES, (10,), generator=gen
        )  # uniform labels (id % 10)
        add_ids(buf, ids, task=0)
        counts = _class_counts(buf)
        # the bookkeeping the policy decides from matches what is stored
        assert counts.tolist() == np.bincount(buf._slot_class[: buf.filled], minlength=N_CLASSES).tolist()
        if len(buf) == cap and counts.max() - counts.min() <= 1:
            balanced_since = balanced_since if balanced_since is not None else b
        if balanced_since is not None:
            assert counts.max() - counts.min() <= 1, (b, counts)  # once balanced, stays balanced
    assert balanced_since is not None and balanced_since < 150
    assert sorted(set(_class_counts(buf))) == [5, 6]
    assert_rows_consistent(buf)


def test_balanced_policy_rebalances_when_new_classes_arrive():
    buf = ReplayBuffer(100, N_CLASSES, policy="balanced", generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(2)
    for task, classes in enumerate([(0, 1), (2, 3)]):
        for _ in range(50):
            labels = torch.tensor(classes)[torch.randint(0, 2, (10,), generator=gen)]
            ids = torch.randint(0, 10**6, (10,), generator=gen) * N_CLASSES + labels
            add_ids(buf, ids, task=task)
        counts = _class_counts(buf)
        n_seen = 2 * (task + 1)
        assert counts[:n_seen].tolist() == [100 // n_seen] * n_seen, counts
        assert counts[n_seen:].sum() == 0
    assert buf.composition(2)["tasks"] == [50, 50]
    assert_rows_consistent(buf, task_of_id=lambda x: (x % N_CLASSES >= 2).long())


def test_balanced_policy_one_batch_larger_than_capacity():
    buf = ReplayBuffer(5, N_CLASSES, policy="balanced", generator=torch.Generator().manual_seed(0))
    ids = torch.arange(40)  # labels 0..9 four times; rows later in the batch may overwrite earlier ones
    add_ids(buf, ids, task=0)
    assert len(buf) == 5
    counts = _class_counts(buf)
    assert counts.max() <= 1 and counts.sum() == 5  # 5 distinct classes, one sample each
    assert counts.tolist() == np.bincount(buf._slot_class, minlength=N_CLASSES).tolist()
    assert_rows_consistent(buf)


# ---------------------------------------------------------------------------------------------------
# sample and composition


@pytest.mark.parametrize("policy", ["reservoir", "balanced"])
def test_sample_returns_distinct_filled_slots(policy):
    buf = ReplayBuffer(100, N_CLASSES, policy=policy, generator=torch.Generator().manual_seed(5))
    add_ids(buf, torch.arange(7), task=0)
    s = buf.sample(10)  # fewer stored than asked
    assert sorted(s.index.tolist()) == list(range(7))

    for t in range(5):
        add_ids(buf, torch.arange(100 * (t + 1), 100 * (t + 1) + 40), task=t)
    assert len(buf) == 100
    seen_slots = set()
    for _ in range(20):
        s = buf.sample(30)
        idx = s.index.tolist()
        assert len(idx) == 30 and len(set(idx)) == 30 and all(0 <= i < 100 for i in idx)
        assert torch.equal(s.x, buf.x[s.index]) and torch.equal(s.y, buf.y[s.index])
        assert torch.equal(s.task, buf.task[s.index]) and torch.equal(s.logits, buf.logits[s.index])
        seen_slots.update(idx)
    assert len(seen_slots) > 90  # random slots, not always the same ones
    assert sorted(buf.sample(1000).index.tolist()) == list(range(100))


def test_sample_without_logits():
    buf = ReplayBuffer(10, N_CLASSES)
    add_ids(buf, torch.arange(10), task=0, with_logits=False)
    assert buf.sample(4).logits is None


def test_composition_counts_classes_and_tasks():
    buf = ReplayBuffer(50, N_CLASSES)
    assert buf.composition(3) == {"classes": [0] * N_CLASSES, "tasks": [0, 0, 0], "size": 0}
    add_ids(buf, torch.tensor([0, 1, 11, 21]), task=0)  # labels 0, 1, 1, 1
    add_ids(buf, torch.tensor([2, 3, 13]), task=2)  # labels 2, 3, 3
    comp = buf.composition(3)
    assert comp == {"classes": [1, 3, 1, 2, 0, 0, 0, 0, 0, 0], "tasks": [4, 0, 3], "size": 7}
    # once full, composition still covers exactly the stored samples
    for t in range(3):
        add_ids(buf, torch.arange(1000 * (t + 1), 1000 * (t + 1) + 30), task=t)
    comp = buf.composition(3)
    assert comp["size"] == 50 and sum(comp["classes"]) == 50 and sum(comp["tasks"]) == 50
    assert comp["classes"] == np.bincount(label_of(buf.x).numpy(), minlength=N_CLASSES).tolist()
    assert comp["tasks"] == torch.bincount(buf.task, minlength=3).tolist()


def test_unknown_policy_rejected():
    with pytest.raises(ValueError):
        ReplayBuffer(10, N_CLASSES, policy="fifo")
