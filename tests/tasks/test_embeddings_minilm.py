"""TextEmbedder on the real pretrained MiniLM (pip preset) equals sentence-transformers' recipe computed with
HF transformers (BertModel, mean pooling over the attention mask, L2): max abs difference <= 1e-5 (slow)."""

import numpy as np
import pytest

from tests.conftest import require


@pytest.mark.slow
def test_minilm_mean_pooling_matches_hf():
    torch = require("torch")
    transformers = require("transformers")
    from keras_bert_zoo import presets
    from keras_bert_zoo.tasks import TextEmbedder
    from keras_bert_zoo.text import BertPreprocessor

    backbone, tok = presets.from_preset("minilm_l6_h384_uncased", backbone_only=True)
    task = TextEmbedder(backbone, preprocessor=BertPreprocessor(tok, sequence_length=64), pooling="mean")
    texts = ["A man is playing a guitar.", "北京是中国的首都。", "Café crème, s'il vous plaît!", ""]
    ours = task.predict(texts, verbose=0)["embeddings"]
    model_dir = presets.fetch_preset("minilm_l6_h384_uncased")
    hf_dir = [p for p in __import__("pathlib").Path(model_dir).rglob("config.json")][0].parent
    hf_tok = transformers.BertTokenizerFast.from_pretrained(str(hf_dir))
    hf = transformers.BertModel.from_pretrained(str(hf_dir)).eval()
    enc = hf_tok(texts, padding="max_length", truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        seq = hf(**enc).last_hidden_state.numpy()
    m = enc["attention_mask"].numpy()[:, :, None].astype("float32")
    ref = (seq * m).sum(1) / m.sum(1)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    diff = np.abs(ours - ref).max()
    print(f"max abs diff vs HF mean pooling: {diff:.2e}")
    assert diff <= 1e-5, diff
