"""At their recommended settings the methods show their published behaviour (bench/DEMO.md has the 3-seed study):
the real recommended Split-MNIST runs, seed 0, live evaluations off (a few seconds each)."""

import pytest

from clcore import Run, make_config
from clcore.settings.recommended import recommended_settings


def class_il(strategy: str) -> float:
    settings = recommended_settings(strategy, "split-mnist")
    assert settings, f"{strategy} has no recommended settings on split-mnist"
    result = Run(make_config(**settings, seed=0, device="cpu", eval_every=0)).run_to_end()
    assert result["status"] == "finished", result["message"]
    return result["avg_acc"]


@pytest.fixture(scope="module")
def finetune_class_il() -> float:
    return class_il("finetune")


def test_finetune_forgets_in_class_il(finetune_class_il):
    assert finetune_class_il < 25  # only the last task's two classes are still recognised


@pytest.mark.parametrize("strategy, margin", [("clser", 30), ("derpp", 30), ("agem", 12)])
def test_replay_methods_beat_finetune_in_class_il(strategy, margin, finetune_class_il):
    assert class_il(strategy) >= finetune_class_il + margin


def test_clser_is_at_least_er():
    assert class_il("clser") >= class_il("er") - 1.0  # one seed: a point of noise allowed
