"""Span decoding in the graph, one decoder per kind of span, called by the SavedModel and the TFLite graphs alike.

* :mod:`~keras_bert_zoo.tasks.decoding.entities` — token logits of raw texts -> entities (seqeval chunks of the
  words' tags) with character offsets;
* :mod:`~keras_bert_zoo.tasks.decoding.crf` — the tagger's CRF over words (Viterbi over the max-context
  emissions of a whole text; tag rules from the label names), which the entity decoder calls;
* :mod:`~keras_bert_zoo.tasks.decoding.spans` — start / end logits over context windows -> the n best answer spans;
* :mod:`~keras_bert_zoo.tasks.decoding.graphemes` — both decoders' span ends moved to the end of their grapheme
  cluster (never between a letter and its combining accent, an emoji and its variation selector or modifier).

Each decoder is written with TFLite builtin ops, except the last step that slices the span texts out of the
input strings (``tf.strings.substr``); those outputs are named in the module's ``SLICED_TEXT_OUTPUTS``. The
TFLite export leaves exactly them out (no TFLite builtin slices strings), and the converter drops the slicing
ops with them; clients cut the texts with the character offsets (saved_models/README.md).
"""
