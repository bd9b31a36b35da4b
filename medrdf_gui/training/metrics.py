"""Classification metrics for model cards: accuracy, balanced accuracy, per-class sensitivity/specificity, AUC."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn


@torch.inference_mode()
def predict_logits(module: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """uint8 or float [N, C, H, W] → logits [N, K], in eval mode, batch by batch."""
    module.eval()
    outs = []
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start : start + batch_size]
        x = chunk.float().div_(255.0) if chunk.dtype == torch.uint8 else chunk
        outs.append(module(x.contiguous(memory_format=torch.channels_last)).float())
    return torch.cat(outs)


def _auc_one_vs_rest(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Mann–Whitney AUC with average ranks for ties; None when one side is empty."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores, method="average")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_report(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    pred = logits.argmax(1).numpy()
    y = labels.numpy()
    probs = torch.softmax(logits, 1).numpy()
    per_class: dict[str, Any] = {}
    recalls, aucs = [], []
    for k, name in enumerate(classes):
        tp = int(((pred == k) & (y == k)).sum())
        fn = int(((pred != k) & (y == k)).sum())
        tn = int(((pred != k) & (y != k)).sum())
        fp = int(((pred == k) & (y != k)).sum())
        sens = tp / (tp + fn) if tp + fn else None
        spec = tn / (tn + fp) if tn + fp else None
        auc = _auc_one_vs_rest(probs[:, k], y == k)
        per_class[name] = {"sensitivity": sens, "specificity": spec, "auc": auc, "support": tp + fn}
        if sens is not None:
            recalls.append(sens)
        if auc is not None:
            aucs.append(auc)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (y, pred), 1)
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "n": int(y.size),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }
