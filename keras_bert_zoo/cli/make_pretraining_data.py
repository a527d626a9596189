"""`bert-zoo make-pretraining-data`: corpus text files -> sharded MLM+NSP TFRecords (static masking).

    bert-zoo make-pretraining-data --input=corpus/*.txt --input_format=bert --vocab=vocab.txt \\
        --out=data/pretrain --sequence_length=128 --max_predictions_per_seq=20 --dupe_factor=10 \\
        --num_shards=16 [--whole_word_masking] [--word_boundaries=whitespace] [--nolowercase]

Read the shards back with ``bert-zoo pretrain --data=data/pretrain``. See keras_bert_zoo.data.pretraining.
"""

import dataclasses
import glob
import json
import time

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError
from keras_bert_zoo.data import corpus    # TensorFlow-free: flags only at import; TF is imported in main()

flags.DEFINE_list("input", None, "Corpus files or globs (comma separated).", required=True)
flags.DEFINE_enum("input_format", "bert", list(corpus.CORPUS_FORMATS),
                  "bert: one sentence per line, blank line between documents; plain: paragraphs "
                  "separated by blank lines, split into sentences (English and Chinese punctuation).")
flags.DEFINE_string("vocab", None, "WordPiece vocab.txt.", required=True)
flags.DEFINE_bool("lowercase", True, "Lower-case (uncased vocab).")
options.define("out", "sequence_length", "seed", seed=12345, out_help="Directory for the TFRecord shards.",
               sequence_length_help="Tokens per pair, [CLS] and [SEP]s included.",
               seed_help="Random seed (same seed, same files).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked tokens per pair.")
flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens to predict.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
flags.DEFINE_bool("whole_word_masking", False, "Mask whole words (all their WordPieces).")
flags.DEFINE_enum("word_boundaries", "wordpiece", ["wordpiece", "whitespace"],
                  "Words for whole-word masking: WordPiece '##' continuations, or whitespace in "
                  "pre-segmented text (e.g. Chinese segmented by a word segmenter).")
flags.DEFINE_integer("dupe_factor", 10, "Differently masked copies of the corpus.")
flags.DEFINE_integer("num_shards", 8, "Output files (at least one per training worker).")
flags.DEFINE_integer("chunk_documents", 100_000, "Documents held in memory at a time.")
flags.DEFINE_enum("errors", "strict", ["strict", "replace", "ignore"], "Invalid UTF-8 handling.")
options.define_alias("output_dir", "out")
options.define_alias("max_seq_length", "sequence_length")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """One `bert-zoo make-pretraining-data` run (the flags of the same names)."""

    input: tuple
    vocab: str
    out: str
    input_format: str = "bert"
    lowercase: bool = True
    sequence_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    whole_word_masking: bool = False
    word_boundaries: str = "wordpiece"
    dupe_factor: int = 10
    num_shards: int = 8
    seed: int = 12345
    chunk_documents: int = 100_000
    errors: str = "strict"


def _files(patterns):
    files = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if not found:
            raise UsageError(f"--input: no file matches {pattern!r}")
        files.extend(found)
    return files


def run_make_pretraining_data(run: PretrainingDataConfig) -> dict:
    """Write the shards; returns (and prints) their metadata."""
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.text import WordPieceTokenizer

    if not run.out:
        raise UsageError("--out is required (the directory for the TFRecord shards)")
    config = P.PretrainingDataConfig(max_seq_length=run.sequence_length,
                                     max_predictions_per_seq=run.max_predictions_per_seq,
                                     masked_lm_prob=run.masked_lm_prob, short_seq_prob=run.short_seq_prob,
                                     whole_word_masking=run.whole_word_masking)
    tokenizer = WordPieceTokenizer(run.vocab, lowercase=run.lowercase)
    ids = P.TokenIds.from_tokenizer(tokenizer)
    documents = corpus.iter_documents(_files(run.input), run.input_format, errors=run.errors)
    tokenized = P.tokenize_documents(documents, tokenizer, ids, word_boundaries=run.word_boundaries)
    start = time.perf_counter()
    meta = P.write_tfrecord_shards(tokenized, run.out, ids, config, num_shards=run.num_shards,
                                   dupe_factor=run.dupe_factor, seed=run.seed, chunk_documents=run.chunk_documents)
    meta["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}, indent=1))
    return meta


def main(argv):
    del argv
    options.resolve_aliases()
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(PretrainingDataConfig)}
    values["input"] = tuple(values["input"])
    run_make_pretraining_data(PretrainingDataConfig(**values))
