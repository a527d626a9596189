"""The verification rule itself: absolute + range-relative float tolerance, row agreement, exact mode."""

import numpy as np
import pytest

from keras_bert_zoo.export import verify


def test_relative_term_scales_with_the_output_range():
    tol = verify.Tolerance(0.3, 1.0, float_rtol=0.1)
    ref = {"logits": np.array([[5.0, -2.0]]), "probabilities": np.array([[0.9, 0.1]])}
    # logits may move by 0.3 + 0.1 * 5 = 0.8; probabilities by 0.3 + 0.1 * 0.9 = 0.39
    ok = {"logits": ref["logits"] + 0.75, "probabilities": ref["probabilities"] - 0.35}
    report = verify.compare_outputs(ref, ok, tol)
    assert report["logits"]["allowed"] == pytest.approx(0.8)
    with pytest.raises(verify.VerificationError, match=r"logits: max abs diff 0.85 > 0.8 \(0.3 \+ 0.1 x max"):
        verify.compare_outputs(ref, {**ok, "logits": ref["logits"] + 0.85}, tol)
    with pytest.raises(verify.VerificationError, match="probabilities: max abs diff 0.4 > 0.39"):
        verify.compare_outputs(ref, {**ok, "probabilities": ref["probabilities"] - 0.4}, tol)


def test_absolute_only_by_default_and_label_agreement():
    tol = verify.Tolerance(1e-4, 0.5)
    ref = {"p": np.array([0.5, 100.0]), "label": np.array(["a", "b"], dtype=object)}
    verify.compare_outputs(ref, {"p": ref["p"] + 5e-5, "label": np.array(["a", "x"], dtype=object)}, tol)
    with pytest.raises(verify.VerificationError, match="p: max abs diff 0.001 > 0.0001$"):
        verify.compare_outputs(ref, {"p": ref["p"] + 1e-3, "label": ref["label"]}, tol)
    with pytest.raises(verify.VerificationError, match=r"label: 0% of rows identical \(need 50%\)"):
        verify.compare_outputs(ref, {"p": ref["p"], "label": np.array(["x", "y"], dtype=object)}, tol)
    # exact mode (the preprocess signature): floats must be identical too
    with pytest.raises(verify.VerificationError, match=r"p: 50% of rows identical"):
        verify.compare_outputs(ref, {"p": ref["p"] + np.array([0.0, 5e-5]), "label": ref["label"]}, tol, exact=True)
