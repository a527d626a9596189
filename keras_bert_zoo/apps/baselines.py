"""The demos' non-neural baselines, scored with the package's own metrics.

* :func:`tfidf_baseline` — word 1-2-gram TF-IDF + logistic regression (the English demo);
* :func:`tfidf_char_baseline` — character 1-3-gram TF-IDF + logistic regression (Chinese sentiment);
* :func:`crf_char_baseline` — a character CRF (``sklearn-crfsuite``, a test extra) for Chinese NER.
"""

from __future__ import annotations

__all__ = ["tfidf_baseline", "tfidf_char_baseline", "crf_features", "crf_char_baseline"]


def _report(clf, vec, test, labels):
    import numpy as np

    from keras_bert_zoo.metrics.classification import classification_report

    pred = clf.predict(vec.transform(test[0]))
    index = {n: i for i, n in enumerate(labels)}
    return classification_report(np.asarray([index[v] for v in test[1]]), np.asarray([index[v] for v in pred]),
                                 labels)


def tfidf_baseline(train, test, labels):
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression (balanced); the same metrics as ours."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform(train[0])
    clf = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced").fit(x, train[1])
    return _report(clf, vec, test, labels)


def tfidf_char_baseline(train, test, labels=("negative", "positive"), C=4.0):
    """Character 1-3-gram TF-IDF (sublinear tf) + logistic regression; the package's classification report."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2 if len(train[0]) > 50 else 1,
                          sublinear_tf=True)
    x = vec.fit_transform(train[0])
    clf = LogisticRegression(max_iter=2000, C=C).fit(x, train[1])
    return _report(clf, vec, test, list(labels))


def crf_features(text: str, i: int) -> dict:
    """Features of character ``i``: the characters at -2..+2 and the bigrams around it."""
    pad = "\x02\x02" + text + "\x03\x03"
    j = i + 2
    feats = {"bias": 1.0}
    for k in range(-2, 3):
        feats[f"c[{k}]"] = pad[j + k]
    for k in range(-2, 2):
        feats[f"c[{k}:{k + 2}]"] = pad[j + k:j + k + 2]
    return feats


def crf_char_baseline(train, test, max_iterations=100):
    """The character CRF (sklearn-crfsuite, L-BFGS, c1 = c2 = 0.1) on (text, char tags) pairs -> the entity
    scores of :func:`keras_bert_zoo.tasks.token_classifier.entity_scores` and the predictions; None when
    sklearn-crfsuite is not installed (it is a test/benchmark extra, not a runtime dependency)."""
    try:
        import sklearn_crfsuite
    except ImportError:
        return None
    from keras_bert_zoo.metrics.entities import entity_scores

    def featurize(pairs):
        return [[crf_features(t, i) for i in range(len(t))] for t, _ in pairs]

    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=max_iterations,
                               all_possible_transitions=True)
    crf.fit(featurize(train), [list(tags) for _, tags in train])
    pred = crf.predict(featurize(test))
    return entity_scores([list(tags) for _, tags in test], [list(p) for p in pred]), pred
