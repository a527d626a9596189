"""keras_bert_zoo.text: in-graph text preprocessing (tensorflow-text ops with TFLite kernels).

    WordPieceTokenizer(vocabulary, lowercase=True, strip_accents=None, tokenize_chinese_chars=True,
                       max_chars_per_word=100)       reference-exact BERT WordPiece (Keras layer)
    BertPreprocessor(tokenizer, sequence_length=128, truncate="longest_first")
                                                      strings -> token_ids / segment_ids / padding_mask
    load_vocabulary(path), count_words, train_vocabulary, write_vocabulary, read_text_lines   vocab helpers

Example::

    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> tokenizer = WordPieceTokenizer("vocab.txt", lowercase=True)
    >>> packed = BertPreprocessor(tokenizer, sequence_length=16)(["hello world"])   # int32 [1, 16] each
    >>> packed["token_ids"].numpy()[0, :5]                                        # [CLS] hello world [SEP]
    array([ 101, 7592, 2088,  102,    0], dtype=int32)
"""

from keras_bert_zoo.text.preprocessor import TRUNCATE_STRATEGIES, BertPreprocessor, truncated_lengths
from keras_bert_zoo.text.tokenizer import SPECIAL_TOKENS, WordPieceTokenizer, load_vocabulary
from keras_bert_zoo.text.vocab import count_words, read_text_lines, train_vocabulary, write_vocabulary

__all__ = ["WordPieceTokenizer", "BertPreprocessor", "load_vocabulary", "SPECIAL_TOKENS", "TRUNCATE_STRATEGIES",
           "truncated_lengths", "count_words", "read_text_lines", "train_vocabulary", "write_vocabulary"]

