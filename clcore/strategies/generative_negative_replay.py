"""Generative Negative Replay (Graffieti, Maltoni, Pellegrini & Lomonaco, Neural Networks 162, 2023;
arXiv:2204.05842): generated samples serve only as negatives for the classes being learned.

The paper's observation: a continually trained generator's samples are too poor to teach the old
classes (replaying them as positives drags the old classes' decision regions towards the artefacts),
yet they are good "antagonists" that stop the new classes from claiming the old ones' inputs. So the
generator, its training and the labelling of its samples are exactly Deep Generative Replay's
(generative_replay.py, reused here), and only the solver's losses change:

- on generated samples, the cross-entropy towards the old solver's label y' is kept, but its gradient
  reaches only the logits of the current task's classes other than y' (the others are constants):

      L_negative(x', y') = CE(z~, y'),  z~_c = z_c if c is a current class and c != y', else stopgrad(z_c)

  dL/dz_c = softmax(z)_c > 0 for those classes, so every generated sample only pushes current-class
  logits down and never acts as a positive;
- on the current data, the cross-entropy over the classes seen so far holds the old classes' logits as
  constants too. The paper builds GNR on AR1*, whose CWR* output layer trains only the current
  experience's units while the old ones stay consolidated; without that, the current data would push
  the old units down and nothing would ever raise them again (measured here: 10% on Split-MNIST).
  So during a task nothing trains the old classes' output units: the current classes learn to beat
  them on current data and to stay below them on generated (old-looking) data.

In Domain-IL every class is a current class: the current loss is plain cross-entropy and the negatives
still leave each pseudo-label's own logit untouched.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import register
from .generative_replay import GenerativeReplay


def negative_replay_loss(logits: torch.Tensor, labels: torch.Tensor, pushed_classes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy towards `labels` whose gradient flows only into the logits of `pushed_classes`
    (bool, per class) other than each sample's own label."""
    classes = torch.arange(logits.shape[1], device=logits.device)
    trainable = pushed_classes[None, :] & (classes[None, :] != labels[:, None])
    return F.cross_entropy(torch.where(trainable, logits, logits.detach()), labels)


@register
class GenerativeNegativeReplay(GenerativeReplay):
    name = "generative_negative_replay"
    family = "hybrid"
    title = "Generative Negative Replay (GNR)"
    summary = "Generative replay whose samples only push the current classes down (negatives), never teach old ones."

    def seen_logits(self, logits):
        """Classes not seen yet take no part in the competition."""
        return logits.masked_fill(~self.seen_classes, float("-inf"))

    def current_loss(self, logits, labels, tasks):
        """Cross-entropy over the classes seen so far, the old ones' logits held as constants: the current
        classes learn to beat them on current data without pushing the old units down."""
        held = torch.where(self.current_classes, logits, logits.detach())
        return self.classification_loss(self.seen_logits(held), labels, tasks)

    def replay_loss(self, logits, labels, tasks):
        return negative_replay_loss(self.task_logits(self.seen_logits(logits), tasks), labels, self.current_classes)
