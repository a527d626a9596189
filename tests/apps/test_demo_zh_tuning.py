"""The Chinese demo's per-arm learning-rate choice: a KerasTuner grid search over the task's grid (trial 0 its
first value), the best validation score kept with its task; ties go to the lower training loss, then the first."""

import pytest

from tests.conftest import require

require("keras_tuner")

from keras_bert_zoo.apps.demo_zh import finetune  # noqa: E402


@pytest.mark.parametrize("scores, losses, best", [
    ({1e-4: 0.5, 3e-4: 0.7, 1e-3: 0.6}, {1e-4: 0.1, 3e-4: 0.9, 1e-3: 0.1}, 3e-4),   # validation first
    ({1e-4: 0.6, 3e-4: 0.6, 1e-3: 0.2}, {}, 1e-4),                                   # a tie, no losses: the first
    ({1e-4: 0.0, 3e-4: 0.0, 1e-3: 0.0}, {1e-4: 0.78, 3e-4: 0.69, 1e-3: 0.59}, 1e-3), # all F1 0: the lowest loss
    ({1e-4: 0.61, 3e-4: 0.6, 1e-3: 0.0}, {1e-4: 0.9, 3e-4: 0.1, 1e-3: 0.01}, 1e-4),  # a loss never beats 0.01
])
def test_each_arm_keeps_the_learning_rate_with_the_best_validation(tmp_path, scores, losses, best):
    calls = []

    def run(arm, backbone, lr, seed):
        calls.append((arm, backbone, lr))
        row = {"learning_rate": lr, "validation": scores[lr]}
        if lr in losses:
            row["train_loss"] = losses[lr]
        return f"task-{arm}-{lr:g}", row

    got = finetune._tune_arm("sentiment", "pretrained", lambda seed: "fresh backbone", (1e-4, 3e-4, 1e-3), run,
                             tmp_path, seed=0)
    assert [c[2] for c in calls][0] == 1e-4 and sorted(c[2] for c in calls) == [1e-4, 3e-4, 1e-3]
    assert all(c[:2] == ("pretrained", "fresh backbone") for c in calls)
    assert got["learning_rate"] == best and got["validation"] == scores[best]
    assert got["task"] == f"task-pretrained-{best:g}" and len(got["grid"]) == 3
    assert (tmp_path / "sentiment" / "pretrained" / "tuner" / "search.json").exists()
