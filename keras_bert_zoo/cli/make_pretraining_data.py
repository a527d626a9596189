"""`bert-zoo make-pretraining-data`: corpus text files -> sharded MLM+NSP TFRecords (static masking).

    bert-zoo make-pretraining-data --input=corpus/*.txt --input_format=bert --vocab=vocab.txt \\
        --output_dir=data/pretrain --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=10 \\
        --num_shards=16 [--whole_word_masking] [--word_boundaries=whitespace] [--nolowercase]

Read the shards back with ``bert-zoo pretrain --data=data/pretrain``. See keras_bert_zoo.data.pretraining.
"""

import glob
import json
import time

from absl import flags

from keras_bert_zoo.data import corpus    # TensorFlow-free: flags only at import; TF is imported in main()

_INPUT = flags.DEFINE_list("input", None, "Corpus files or globs (comma separated).", required=True)
_FORMAT = flags.DEFINE_enum("input_format", "bert", list(corpus.CORPUS_FORMATS),
                            "bert: one sentence per line, blank line between documents; plain: paragraphs "
                            "separated by blank lines, split into sentences (English and Chinese punctuation).")
_VOCAB = flags.DEFINE_string("vocab", None, "WordPiece vocab.txt.", required=True)
_LOWERCASE = flags.DEFINE_bool("lowercase", True, "Lower-case (uncased vocab).")
_OUTPUT = flags.DEFINE_string("output_dir", None, "Directory for the TFRecord shards.", required=True)
_MAX_SEQ = flags.DEFINE_integer("max_seq_length", 128, "Tokens per pair, [CLS] and [SEP]s included.")
_MAX_PRED = flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked tokens per pair.")
_MLM_PROB = flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens to predict.")
_SHORT = flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
_WWM = flags.DEFINE_bool("whole_word_masking", False, "Mask whole words (all their WordPieces).")
_BOUNDS = flags.DEFINE_enum("word_boundaries", "wordpiece", ["wordpiece", "whitespace"],
                            "Words for whole-word masking: WordPiece '##' continuations, or whitespace in "
                            "pre-segmented text (e.g. Chinese segmented by a word segmenter).")
_DUPE = flags.DEFINE_integer("dupe_factor", 10, "Differently masked copies of the corpus.")
_SHARDS = flags.DEFINE_integer("num_shards", 8, "Output files (at least one per training worker).")
_SEED = flags.DEFINE_integer("seed", 12345, "Random seed (same seed, same files).")
_CHUNK = flags.DEFINE_integer("chunk_documents", 100_000, "Documents held in memory at a time.")
_ERRORS = flags.DEFINE_enum("errors", "strict", ["strict", "replace", "ignore"], "Invalid UTF-8 handling.")


def _files(patterns):
    files = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if not found:
            raise SystemExit(f"make-pretraining-data: no file matches {pattern!r}")
        files.extend(found)
    return files


def main(argv):
    del argv
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.text import WordPieceTokenizer

    config = P.PretrainingDataConfig(max_seq_length=_MAX_SEQ.value, max_predictions_per_seq=_MAX_PRED.value,
                                     masked_lm_prob=_MLM_PROB.value, short_seq_prob=_SHORT.value,
                                     whole_word_masking=_WWM.value)
    tokenizer = WordPieceTokenizer(_VOCAB.value, lowercase=_LOWERCASE.value)
    ids = P.TokenIds.from_tokenizer(tokenizer)
    documents = corpus.iter_documents(_files(_INPUT.value), _FORMAT.value, errors=_ERRORS.value)
    tokenized = P.tokenize_documents(documents, tokenizer, ids, word_boundaries=_BOUNDS.value)
    start = time.perf_counter()
    meta = P.write_tfrecord_shards(tokenized, _OUTPUT.value, ids, config, num_shards=_SHARDS.value,
                                   dupe_factor=_DUPE.value, seed=_SEED.value, chunk_documents=_CHUNK.value)
    meta["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}, indent=1))
