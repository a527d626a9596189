"""`bert-zoo info`: the named BERT sizes with their shapes and parameter counts."""

from absl import flags

from keras_bert_zoo.config import NAMED_CONFIGS

_NAME = flags.DEFINE_string("name", None, "Only this size (default: all).")


def count_params(config):
    """Parameters of BertBackbone(config) (pooler included), computed from the shapes alone."""
    d, i, layers = config.hidden_size, config.intermediate_size, config.num_layers
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * d + 2 * d
    block = 4 * (d * d + d) + (d * i + i) + (i * d + d) + 4 * d
    return embeddings + layers * block + d * d + d


def run_info(name=None):
    """Print the named sizes (or only ``name``) with their shapes and parameter counts."""
    from keras_bert_zoo.cli.errors import UsageError

    if name is not None and name not in NAMED_CONFIGS:
        raise UsageError(f"--name {name!r}: not a named size; see bert-zoo info")
    names = [name] if name else sorted(NAMED_CONFIGS)
    print(f"{'name':34} {'L':>3} {'H':>5} {'A':>3} {'I':>5} {'vocab':>7} {'params':>13}")
    for name in names:
        c = NAMED_CONFIGS[name]
        print(f"{name:34} {c.num_layers:>3} {c.hidden_size:>5} {c.num_heads:>3} {c.intermediate_size:>5} "
              f"{c.vocab_size:>7} {count_params(c):>13,}")


def main(argv):
    del argv
    run_info(_NAME.value)
