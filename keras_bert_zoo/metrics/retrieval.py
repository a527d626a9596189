"""Retrieval quality of embedding pairs (NumPy): each anchor's nearest positive by cosine among all positives.

Example::

    retrieval_scores(anchor_vectors, positive_vectors)   # {"top1_accuracy", "mrr", "mean_pair_cosine", "num_pairs"}
"""

from __future__ import annotations

import numpy as np

__all__ = ["retrieval_scores"]


def retrieval_scores(anchor_embeddings: np.ndarray, positive_embeddings: np.ndarray) -> dict:
    """Each anchor's nearest positive (cosine) among all positives: top-1 accuracy, mean reciprocal rank and
    the mean cosine of the true pairs."""
    ea = anchor_embeddings / np.maximum(np.linalg.norm(anchor_embeddings, axis=1, keepdims=True), 1e-12)
    ep = positive_embeddings / np.maximum(np.linalg.norm(positive_embeddings, axis=1, keepdims=True), 1e-12)
    sim = ea @ ep.T
    true = np.diag(sim)
    rank = 1 + (sim > true[:, None]).sum(axis=1)
    return {"top1_accuracy": float((rank == 1).mean()), "mrr": float((1.0 / rank).mean()),
            "mean_pair_cosine": float(true.mean()), "num_pairs": int(len(ea))}
