"""keras_bert_zoo.apps: applications built from the package — the demos, their baselines and experiments.

They sit above the library (they use tasks, train, reports, viz, export) and below ``cli``, whose ``demo``
command only turns its flags into one config and calls an app:

* :mod:`~keras_bert_zoo.apps.demo_en` — `bert-zoo demo`: MiniLM fine-tuned on the English tweet sentiment
  corpus (``EnDemoConfig`` -> ``run_en_demo``).
* :mod:`~keras_bert_zoo.apps.demo_zh` — `bert-zoo demo --lang zh`: the Chinese path within one time budget
  (``ZhDemoConfig`` -> ``run_zh_demo``).
* :mod:`~keras_bert_zoo.apps.from_scratch` — the pretrain-vs-random-init experiment (budgeted pretraining with
  a held-out curve; both arms fine-tuned over a learning-rate grid), used by the Chinese demo,
  ``examples/from_scratch.py`` and ``benchmarks/zh_curve.py``.
* :mod:`~keras_bert_zoo.apps.baselines` — TF-IDF + logistic regression (words or characters) and the character
  CRF.
* :mod:`~keras_bert_zoo.apps.common` — stratified subsets, atomic JSON/text outputs.
"""
