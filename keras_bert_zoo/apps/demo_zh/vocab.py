"""The Chinese demo's vocabulary: every CJK character seen often enough is a token, plus WordPiece pieces for
Latin text and digits; the ``##c`` pieces the tokenizer can never produce are dropped."""

from __future__ import annotations

import collections
import unicodedata

__all__ = ["char_counts", "chinese_vocabulary"]


def char_counts(texts, lowercase=True) -> collections.Counter:
    """Characters of ``texts`` (lower-cased as the tokenizer does; whitespace left out)."""
    counts = collections.Counter()
    for text in texts:
        counts.update(text.lower() if lowercase else text)
    for ws in [c for c in counts if c.isspace()]:
        del counts[ws]
    return counts


def chinese_vocabulary(texts, min_char_count=2, wordpiece_tokens=2000):
    """(tokens, info): a lower-cased WordPiece vocabulary that keeps every character seen at least
    ``min_char_count`` times (each CJK character a token, as the tokenizer isolates them) plus about
    ``wordpiece_tokens`` pieces for Latin text and digits; unreachable ``##c`` pieces dropped."""
    from keras_bert_zoo.text.vocab import drop_unreachable_continuations, is_isolated_char, train_vocabulary

    texts = list(texts)
    counts = char_counts(texts)
    keep = sum(1 for c, n in counts.items() if n >= min_char_count)
    # the learner adds c and ##c for each kept character: ask for both, plus the word pieces
    learned = train_vocabulary(texts, vocab_size=2 * keep + wordpiece_tokens, lowercase=True,
                               max_unique_chars=keep, lower_thresh=min_char_count)
    tokens = drop_unreachable_continuations(learned)
    vocab = set(tokens)
    total = sum(counts.values())
    missing = sum(n for c, n in counts.items() if c not in vocab)
    cjk = {c for c in counts if is_isolated_char(c) and not _is_punct(c)}
    info = {"distinct_characters": len(counts), "distinct_cjk_characters": len(cjk),
            "characters_seen_at_least_min_count": keep, "min_char_count": min_char_count,
            "cjk_tokens": sum(1 for t in tokens if len(t) == 1 and t in counts and t in cjk),
            "learned_tokens": len(learned), "unreachable_continuations_dropped": len(learned) - len(tokens),
            "vocab_size": len(tokens),
            "multi_char_pieces": sum(1 for t in tokens if len(t.removeprefix("##")) > 1 and not t.startswith("[")),
            "character_occurrences_not_in_vocab": missing, "character_coverage": 1 - missing / max(total, 1)}
    return tokens, info


def _is_punct(c):
    return unicodedata.category(c).startswith("P") or (ord(c) < 128 and not c.isalnum())
