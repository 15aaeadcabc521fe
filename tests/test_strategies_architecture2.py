"""The architectural family, part 2: Piggyback, SupSup and the task-conditioned hypernetwork - their core
mechanisms on hand-made cases and on tiny runs (the CLI runs every strategy in tests/test_cli.py)."""

import pytest
import torch
import torch.nn.functional as F

from clcore import ConfigError
from clcore.mechanics.masks import threshold_mask, top_k_mask
from clcore.mechanics.task_aware import parameter_count
from clcore.models import MLP
from clcore.strategies.hypernetwork import ChunkedHypernetwork, output_regulariser
from clcore.strategies.supsup import SupermaskMLP
from tests.test_strategies_architecture import eval_logits, probe, snapshot, two_task_run, unchanged

# ---------------------------------------------------------------------------------------------------
# Piggyback


def test_piggyback_binarises_at_the_threshold_and_passes_gradients_straight_through():
    scores = torch.tensor([[0.01, 0.004], [0.005, 0.0051]], requires_grad=True)
    mask = threshold_mask(scores, 5e-3)
    assert mask.tolist() == [[1.0, 0.0], [0.0, 1.0]]  # kept strictly above tau
    weight = torch.tensor([[2.0, -3.0], [0.5, 4.0]])
    (mask * weight).sum().backward()
    assert torch.equal(scores.grad, weight)  # d/dm_r = d/dm, masked-out entries included


def test_piggyback_mask_gradient_is_the_effective_weights_gradient_times_the_weight():
    run = two_task_run("piggyback")
    run.advance(until="task")
    run.advance(batches=1)  # task 2 begun: its real-valued masks exist
    model = run.strategy.model
    x, y = run.benchmark.test_set(run.benchmark.tasks[1], 16)
    layer, scores = model.layers[0], model.scores[1][0]
    scores.grad = None
    F.cross_entropy(model.forward_task(x, 1), y).backward()
    # the same loss with the masked weight W * m as a leaf: task 2's head over its classes 2, 3
    effective = (layer.weight * threshold_mask(scores, model.threshold)).detach().requires_grad_(True)
    F.cross_entropy(model.heads(torch.relu(F.linear(x.flatten(1), effective, layer.bias)), 1), y - 2).backward()
    assert torch.allclose(scores.grad, effective.grad * layer.weight, atol=1e-7)


def test_piggyback_freezes_the_backbone_after_the_first_task_and_keeps_earlier_tasks_exactly():
    run = two_task_run("piggyback", classes="0,1|2,3|4,5", params={"mask_lr": 1e-2})
    model = run.strategy.model
    x = probe(run)
    run.advance(until="task")
    backbone = snapshot(model.layers)
    first = eval_logits(model, x, 0)
    run.advance(until="task")
    second = eval_logits(model, x, 1)
    density = float(threshold_mask(model.scores[1][0], model.threshold).detach().mean())
    assert density < 1.0  # task 2's mask did learn to drop weights
    run.advance(until="task")
    assert unchanged(model.layers, backbone)  # bitwise, weights and biases
    assert torch.equal(eval_logits(model, x, 0), first)
    assert torch.equal(eval_logits(model, x, 1), second)
    assert len(model.scores[0]) == 0  # the first task uses the backbone unmasked


def test_piggyback_rejects_a_negative_threshold():
    with pytest.raises(ConfigError, match="threshold"):
        two_task_run("piggyback", params={"threshold": -0.1})


# ---------------------------------------------------------------------------------------------------
# SupSup


def test_top_k_mask_keeps_exactly_the_largest_magnitudes_and_passes_gradients_to_them():
    scores = torch.tensor([[0.3, -0.9, 0.1], [0.05, -0.2, 0.7]], requires_grad=True)
    mask = top_k_mask(scores, 0.5)
    assert mask.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # |score| 0.9, 0.7, 0.3
    (mask * 2.0).sum().backward()
    assert torch.equal(scores.grad, 2.0 * scores.detach().sign())  # straight through to |score|


def hand_made_supermasks():
    """Two inputs, two outputs; task 0's supermask reads input 0 only, task 1's input 1 only: each task is
    confident on its own input and flat on the other's."""
    model = SupermaskMLP(MLP((1, 1, 2), 4, hidden=()), [[0, 1], [2, 3]], 4, keep=0.5)
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[5.0, 5.0], [-5.0, -5.0]]))
    model.add_scores([torch.tensor([[1.0, 0.1], [1.0, 0.1]])])
    model.add_scores([torch.tensor([[0.1, 1.0], [0.1, 1.0]])])
    model.tasks_seen = 2
    return model


def test_supsup_one_shot_inference_picks_the_task_whose_mask_lowers_the_entropy():
    model = hand_made_supermasks()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.5]])
    with torch.no_grad():  # as the evaluation calls it: the rule turns gradients on for alpha itself
        chosen, _ = model.infer_tasks(x)
        predictions = model(x).argmax(1)
    assert chosen.tolist() == [0, 1, 0]
    assert predictions.tolist() == [0, 2, 0]  # each answered in its inferred task's classes
    # the rule's gradient: dH/dalpha by finite differences on the superposed network
    masks = [[m.detach() for m in model.masks(t)] for t in range(2)]

    def entropy(alphas):
        log_p = model.superposed_output(x[:1], alphas, masks).log_softmax(1)
        return float(-(log_p.exp() * log_p).sum())

    base = torch.tensor([[0.5, 0.5]])
    slopes = [
        (entropy(base + 1e-3 * torch.eye(2)[i]) - entropy(base - 1e-3 * torch.eye(2)[i])) / 2e-3 for i in range(2)
    ]
    assert slopes[0] < slopes[1]


def test_supsup_weights_never_change_and_masks_have_the_requested_sparsity():
    run = two_task_run("supsup", params={"sparsity": 0.3})
    model = run.strategy.model
    weights = snapshot(model.layers)
    assert all(torch.equal(w.abs(), torch.full_like(w, (2.0 / w.shape[1]) ** 0.5)) for w in weights.values())
    assert all(layer.bias is None for layer in model.layers)
    x = probe(run)
    run.advance(until="task")
    first = eval_logits(model, x, 0)
    run.advance(until="task")
    assert unchanged(model.layers, weights)
    assert torch.equal(eval_logits(model, x, 0), first)
    for t in range(2):
        for mask in model.masks(t):
            assert int(mask.sum()) == round(0.3 * mask.numel())


def test_supsup_rejects_an_empty_supermask():
    with pytest.raises(ConfigError, match="sparsity"):
        two_task_run("supsup", params={"sparsity": 0.0})


# ---------------------------------------------------------------------------------------------------
# hypernetwork


def test_output_regulariser_is_zero_at_theta_star_and_follows_the_formula():
    torch.manual_seed(0)
    hnet = ChunkedHypernetwork(
        torch.ones(5), embedding_dim=2, hidden=3, chunk_size=2, generator=torch.Generator().manual_seed(0)
    )
    embeddings = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
    with torch.no_grad():
        targets = hnet(embeddings)  # h(e_t, theta*)
    assert output_regulariser(hnet(embeddings), targets, beta=2.0).item() == 0.0
    with torch.no_grad():
        hnet.out.bias.add_(0.1)  # every generated weight moves by 0.1 (scale 1)
    # beta / T_prev * sum_t ||h(e_t) - h*(e_t)||^2 = 2 / 2 * (2 tasks * 5 weights * 0.01)
    assert output_regulariser(hnet(embeddings), targets, beta=2.0).item() == pytest.approx(0.1, rel=1e-5)


def test_hypernetwork_keeps_earlier_generated_weights_with_a_large_beta():
    drifts = {}
    for beta in (0.0, 100.0):
        run = two_task_run(
            "hypernetwork",
            lr=0.01,
            optimizer="adam",
            params={"beta": beta, "embedding_dim": 8, "hnet_hidden": 16, "chunk_size": 500},
        )
        model = run.strategy.model
        run.advance(until="task")
        count = parameter_count(model)
        run.advance(batches=1)
        assert parameter_count(model) == count + 8  # task 2's embedding is the only new parameter
        run.advance(until="task")
        drifts[beta] = run.record.strategy_reports[-1].weight_drift[0]
    # the paper's Adam moves the weights at a fixed pace, so beta trades off rather than pins: a fifth
    assert drifts[100.0] < 0.05 and drifts[100.0] < 0.2 * drifts[0.0]
