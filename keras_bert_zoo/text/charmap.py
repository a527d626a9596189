"""Per-codepoint BERT text normalisation, compiled into a tf-text FastBertNormalizer model.

Why this exists
---------------
The reference BERT tokenizer (google-research/bert ``tokenization.py``; the Rust ``BertNormalizer`` that HF
``BertTokenizerFast`` uses) normalises text one code point at a time:

1. clean: drop U+0000, U+FFFD and "control" characters (categories Cc except ``\\t \\n \\r``, Cf, Co),
   map whitespace (``\\t \\n \\r`` and categories Zs/Zl/Zp) to a space;
2. (uncased) strip accents: NFD-decompose and drop non-spacing marks (category Mn);
3. (uncased) lower-case with the plain Unicode lower-case mapping (``str.lower`` of one character), i.e. NO
   case folding and NO NFKC: ``ß`` stays ``ß``, ``ﬁ`` stays ``ﬁ``, ``™`` stays ``™``, full-width letters stay
   full-width.

tensorflow-text's ``FastBertNormalizer(lower_case_nfd_strip_accents=True)`` (and ``BertTokenizer``'s
``case_fold_utf8``) instead apply ICU **NFKC_Casefold**, and replace control characters with a space instead
of removing them. That is why they disagree with the reference on ~12% of tweets (emoji variation selectors
and zero-width joiners become spaces, ``…`` becomes ``...``, full-width forms become ASCII, ``™`` becomes
``tm``) and on about half of Chinese lines (full-width punctuation ``，：（）`` and full-width digits are
NFKC-folded to ASCII, which the reference keeps; the vocab has both forms with different ids).

The fix keeps the same, TFLite-compatible op (``FastBertNormalize`` has a TFLite kernel) but feeds it a model
built here: a darts-clone double-array trie from the UTF-8 bytes of every code point whose normalised form
differs from itself, to its normalised string. The layout follows ``fast_bert_normalizer_model.fbs`` and
``darts_clone_trie_wrapper.h`` of tensorflow-text (format only; the builder below is our own).

The table is a pure function of Python's ``unicodedata`` tables; it is built once per option set and cached.

Usage (the tokenizer does this; the bytes feed ``tf_text.FastBertNormalizer(model_buffer=...)``):

    from keras_bert_zoo.text import charmap
    model = charmap.normalizer_model(lowercase=True, strip_accents=True)      # bytes, cached
    assert charmap.normalize_char("É", lowercase=True, strip_accents=True) == "e"
"""

import functools
import os
import unicodedata

import numpy as np

from keras_bert_zoo import cache

# Bit layout of a trie value (fast_bert_normalizer.h): bit 30 = "normalised string differs",
# bits 6..29 = offset into the string pool, bits 0..5 = UTF-8 byte length of the normalised string.
_DIFFERENT = 0x40000000
_LEN_BITS = 6
_MAX_LEN = (1 << _LEN_BITS) - 1
_MAX_OFFSET = (1 << (32 - 2 - _LEN_BITS)) - 1

_MAX_CODEPOINT = 0x10FFFF


def is_control(ch):
    """Reference 'control': removed by the cleaner. Tab/newline/CR are whitespace instead."""
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def is_whitespace(ch):
    """Reference whitespace: tab, newline, CR and the Unicode space separators."""
    if ch in "\t\n\r ":
        return True
    return unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def normalize_char(ch, lowercase, strip_accents):
    """Normalised form of one character, exactly as the reference BERT normaliser maps it."""
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD or is_control(ch):
        return ""
    if is_whitespace(ch):
        return " "
    out = ch
    if strip_accents:
        out = "".join(c for c in unicodedata.normalize("NFD", out) if unicodedata.category(c) != "Mn")
    if lowercase:
        out = "".join(c.lower() for c in out)
    return out


def _build_darts_trie(keys, values):
    """Builds a darts-clone double array (uint32 units) mapping byte-string keys to int values.

    keys: list of non-empty bytes without NUL bytes; values: ints in [0, 2**31).
    Unit layout (darts-clone): bits 0..7 label, bit 8 has-leaf, bit 9 offset-extension, bits 10.. offset;
    a leaf unit has bit 31 set and holds the value in bits 0..30. Children of node n sit at
    n ^ offset(n) ^ label; the leaf (value) sits at n ^ offset(n). Every node gets a distinct base
    n ^ offset(n), so a child slot can only ever be reached from its own parent.
    """
    # Plain nested-dict trie; "" key marks a value.
    root = {}
    for key, value in zip(keys, values):
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value

    capacity = 1 << 12
    units = [0] * capacity
    used = bytearray(capacity)
    used[0] = 1  # root
    search_from = 1
    high_water = 0

    queue = [(0, root)]
    head = 0
    while head < len(queue):
        node_id, node = queue[head]
        head += 1
        labels = sorted(k for k in node if k != -1)
        if not labels and -1 not in node:
            continue
        # Small nodes fill holes from the front; wide nodes go near the end, where slots are free.
        pos = search_from if len(labels) <= 4 else max(search_from, high_water - 256)
        while True:
            if pos >= capacity - 256:
                units.extend([0] * capacity)
                used.extend(bytearray(capacity))
                capacity *= 2
            if not used[pos] and all(not used[pos ^ lab] for lab in labels):
                break
            pos += 1
        base = pos
        offset = node_id ^ base
        if offset >= (1 << 21):
            raise ValueError("double-array trie too large for direct offsets")
        unit = units[node_id] | (offset << 10)
        used[base] = 1
        high_water = max(high_water, base)
        if -1 in node:
            unit |= 0x100
            units[base] = 0x80000000 | int(node[-1])
        units[node_id] = unit
        for lab in labels:
            child = base ^ lab
            used[child] = 1
            units[child] = lab
            high_water = max(high_water, child)
            queue.append((child, node[lab]))
        while search_from < capacity and used[search_from]:
            search_from += 1
    # Trim trailing unused units but keep 256 slack so XOR probes never read past the end.
    nz = np.flatnonzero(np.frombuffer(bytes(used), dtype=np.uint8))
    end = int(nz[-1]) + 1 if nz.size else 1
    end = min(capacity, ((end + 255) // 256 + 1) * 256)
    return np.asarray(units[:end], dtype=np.uint32)


def _flatbuffer(trie, data_for_zero, pool):
    """Serialises a FastBertNormalizerModel flatbuffer (fields: lower_case_nfd_strip_accents,
    trie_array, data_for_codepoint_zero, normalized_string_pool)."""
    import flatbuffers  # a TensorFlow dependency

    builder = flatbuffers.Builder(len(pool) + 4 * len(trie) + 1024)
    pool_vec = builder.CreateNumpyVector(np.frombuffer(pool, dtype=np.uint8))
    trie_vec = builder.CreateNumpyVector(trie.astype(np.uint32))
    builder.StartObject(4)
    builder.PrependUOffsetTRelativeSlot(3, pool_vec, 0)
    builder.PrependInt32Slot(2, int(data_for_zero), 0)
    builder.PrependUOffsetTRelativeSlot(1, trie_vec, 0)
    builder.PrependBoolSlot(0, False, False)
    model = builder.EndObject()
    builder.Finish(model)
    return bytes(builder.Output())


# Bump when the mapping rules or the serialisation change (invalidates cached tables).
TABLE_VERSION = 1


def _cache_path(lowercase, strip_accents):
    name = (f"bert_normalizer_v{TABLE_VERSION}_unicode{unicodedata.unidata_version}"
            f"_lower{int(lowercase)}_strip{int(strip_accents)}.fbs")
    return os.path.join(cache.cache_root(), "text", name)


@functools.lru_cache(maxsize=8)
def normalizer_model(lowercase, strip_accents):
    """FastBertNormalizer model bytes for these options. Building takes a few seconds, so the bytes are kept
    in memory and in the package cache (``keras_bert_zoo.cache.cache_root()/text``); a cached file is only
    reused for the same table version and the same Unicode version of Python's ``unicodedata``."""
    path = _cache_path(bool(lowercase), bool(strip_accents))
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data:
            return data
    except OSError:
        pass
    data = build_normalizer_model(bool(lowercase), bool(strip_accents))
    try:
        with cache.atomic_write(path) as f:
            f.write(data)
    except OSError:
        pass  # a read-only cache only costs the rebuild
    return data


def build_normalizer_model(lowercase, strip_accents):
    """Builds the FastBertNormalizer model bytes implementing the reference normaliser (a few seconds)."""
    keys, values = [], []
    pool = bytearray()
    pool_index = {}
    data_for_zero = 0
    for cp in range(_MAX_CODEPOINT + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates never occur in valid UTF-8
        ch = chr(cp)
        if unicodedata.category(ch) == "Cn":
            continue  # unassigned code points are left alone by the reference
        norm = normalize_char(ch, lowercase, strip_accents)
        if norm == ch:
            continue
        data = _DIFFERENT
        encoded = norm.encode("utf-8")
        if encoded:
            if len(encoded) > _MAX_LEN:
                raise ValueError(f"normalised form of U+{cp:04X} is too long")
            offset = pool_index.get(encoded)
            if offset is None:
                offset = len(pool)
                if offset > _MAX_OFFSET:
                    raise ValueError("normaliser string pool too large")
                pool_index[encoded] = offset
                pool.extend(encoded)
            data |= len(encoded) | (offset << _LEN_BITS)
        if cp == 0:
            data_for_zero = data
            continue
        keys.append(ch.encode("utf-8"))
        values.append(data)
    trie = _build_darts_trie(keys, values)
    return _flatbuffer(trie, data_for_zero, bytes(pool))
