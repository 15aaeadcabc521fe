"""Losses shared by several strategies."""

import torch
import torch.nn.functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al.): KL(teacher || student) on softened outputs, times T^2
    so that gradient magnitudes do not shrink as T grows."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature**2


def binary_distillation_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    new_classes: torch.Tensor,
    old_classes: torch.Tensor,
) -> torch.Tensor:
    """iCaRL's classification and distillation loss (Rebuffi et al. 2017, Alg. 3): one sigmoid binary
    cross-entropy per class, averaged over the samples and the classes in `new_classes | old_classes`
    (boolean masks over the classes). A new class's target is the one-hot label; an old class's target
    is the old network's sigmoid output on the same input (`teacher_logits`). Other classes are left out."""
    targets = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    if teacher_logits is not None:
        targets = torch.where(old_classes, torch.sigmoid(teacher_logits), targets)
    included = (new_classes | old_classes).to(logits.dtype)
    per_class = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    # a mask product instead of boolean indexing: no device synchronisation
    return (per_class * included).sum() / (len(y) * included.sum())
