"""keras_bert_zoo.text: in-graph text preprocessing (tensorflow-text ops with TFLite kernels).

    WordPieceTokenizer(vocabulary, lowercase=True, strip_accents=None, tokenize_chinese_chars=True,
                       max_chars_per_word=100)       reference-exact BERT WordPiece (Keras layer)
    BertPreprocessor(tokenizer, sequence_length=128, truncate="longest_first")
                                                      strings -> token_ids / segment_ids / padding_mask
    load_vocabulary(path), train_vocabulary(...), write_vocabulary(...)   vocab.txt helpers (vocab.py)
"""

from keras_bert_zoo.text.preprocessor import TRUNCATE_STRATEGIES, BertPreprocessor, truncated_lengths
from keras_bert_zoo.text.tokenizer import SPECIAL_TOKENS, WordPieceTokenizer, load_vocabulary

__all__ = ["WordPieceTokenizer", "BertPreprocessor", "load_vocabulary", "SPECIAL_TOKENS", "TRUNCATE_STRATEGIES",
           "truncated_lengths"]

try:  # vocabulary training (optional module of this package)
    from keras_bert_zoo.text.vocab import train_vocabulary, write_vocabulary  # noqa: F401

    __all__ += ["train_vocabulary", "write_vocabulary"]
except ImportError:  # pragma: no cover
    pass
