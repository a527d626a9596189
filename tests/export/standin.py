"""TEMPORARY stand-in for keras_bert_zoo.text / keras_bert_zoo.tasks.classification until they land.

Builds a BertTask subclass with a tf-text preprocessor (FastBertNormalizer + FastWordpieceTokenizer,
packing with dense ops only). Replaced by the project's real WordPieceTokenizer/BertPreprocessor/TextClassifier.
"""

import tensorflow as tf
import tensorflow_text as tft



class StandinPreprocessor(tf.Module):
    def __init__(self, vocab, sequence_length):
        super().__init__()
        self.vocabulary = list(vocab)
        self.sequence_length = sequence_length
        self.normalizer = tft.FastBertNormalizer(lower_case_nfd_strip_accents=True)
        self.tokenizer = tft.FastWordpieceTokenizer(self.vocabulary, token_out_type=tf.int32,
                                                    unknown_token="[UNK]", support_detokenization=False)
        self.cls, self.sep = self.vocabulary.index("[CLS]"), self.vocabulary.index("[SEP]")

    def _ids(self, s, n):
        ids = self.tokenizer.tokenize(self.normalizer.normalize(s))
        return ids.to_tensor(shape=[None, n]), tf.cast(tf.minimum(ids.row_lengths(), n), tf.int32)

    def __call__(self, texts):
        T = self.sequence_length
        pos = tf.range(T)[None, :]
        if isinstance(texts, tuple):
            a, la = self._ids(texts[0], T)
            b, lb = self._ids(texts[1], T)
            budget = T - 3
            # longest-first trimming to budget, in closed form
            la_t = tf.minimum(la, tf.maximum(budget - tf.minimum(lb, budget // 2), (budget + 1) // 2))
            la_t = tf.minimum(la, tf.maximum(la_t, budget - lb))
            lb_t = tf.minimum(lb, budget - la_t)
            batch = tf.shape(a)[0]
            sa = (la_t + 1)[:, None]
            sb = (la_t + lb_t + 2)[:, None]
            ia = tf.maximum(pos - 1, 0)  # < T already; clip_by_value(.., 0, 6) became an int Relu6 in TFLite
            ib = tf.maximum(pos - la_t[:, None] - 2, 0)
            ga = tf.gather(a, tf.broadcast_to(ia, [batch, T]), batch_dims=1)
            gb = tf.gather(b, tf.broadcast_to(ib, [batch, T]), batch_dims=1)
            ids = tf.where(pos == 0, self.cls, tf.where(pos < sa, ga, tf.where(pos == sa, self.sep,
                           tf.where(pos < sb, gb, tf.where(pos == sb, self.sep, 0)))))
            mask = tf.cast(pos <= sb, tf.int32)
            # tf.where, not tf.cast(bool): the TFLite converter folds Less(Cast(bool), 0) into an
            # unsupported zeros_like on bool (Keras Embedding checks for negative ids)
            seg = tf.where((pos > sa) & (pos <= sb), 1, 0)
            return {"token_ids": ids, "segment_ids": seg, "padding_mask": mask}
        a, la = self._ids(texts, T - 2)
        batch = tf.shape(a)[0]
        ids = tf.concat([tf.fill([batch, 1], self.cls), a, tf.zeros([batch, 1], tf.int32)], axis=1)
        ids = tf.where(pos == (la + 1)[:, None], self.sep, ids)
        mask = tf.cast(pos <= (la + 1)[:, None], tf.int32)
        return {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": mask}


class _Tok:
    def __init__(self, vocab):
        self.vocabulary = list(vocab)


def tokenizer_and_preprocessor(vocab, sequence_length):
    return _Tok(vocab), StandinPreprocessor(vocab, sequence_length)
