"""Retrieval quality of embedding pairs (NumPy): each anchor's nearest positive by cosine among all positives.

Example::

    >>> import numpy as np
    >>> from keras_bert_zoo.metrics.retrieval import retrieval_scores
    >>> anchors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> positives = np.array([[1.0, 0.1], [0.2, 1.0], [-1.0, 1.0]])     # row i is the true pair of anchor i
    >>> scores = retrieval_scores(anchors, positives)       # anchor 2 is nearer positive 1 than its own
    >>> sorted(scores), scores["top1_accuracy"], scores["num_pairs"]
    (['mean_pair_cosine', 'mrr', 'num_pairs', 'top1_accuracy'], 0.666..., 3)
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
