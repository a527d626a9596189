"""keras_bert_zoo.metrics.retrieval: top-1 accuracy, MRR and pair cosine by hand."""

import numpy as np
import pytest

from keras_bert_zoo.metrics.retrieval import retrieval_scores


def test_ranks_by_hand():
    anchors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # anchor 0 ranks its positive first; anchor 1's positive is second (positive 2 is closer); anchor 2 first
    positives = np.array([[3.0, 0.1], [1.0, 0.5], [1.0, 1.0]])
    got = retrieval_scores(anchors, positives)
    assert got["num_pairs"] == 3
    assert got["top1_accuracy"] == pytest.approx(2 / 3)
    cos = [3.0 / np.hypot(3.0, 0.1), 1.0 / np.hypot(1.0, 2.0), 1.0]
    assert got["mean_pair_cosine"] == pytest.approx(np.mean(cos))
    assert got["mrr"] == pytest.approx((1 + 1 / 2 + 1) / 3)
