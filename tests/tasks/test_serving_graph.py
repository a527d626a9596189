"""The NER and QA decoders run inside a SavedModel: entity spans and answer text + offsets come out of the
exported graph, equal to the Python-side predictions (slow: traces and saves two models)."""

import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.tasks.qa import QuestionAnswerer
from keras_bert_zoo.tasks.tagging import TokenTagger


def _export_and_reload(task, spec, path):
    module = tf.Module()
    module.model, module.tokenizer, module.preprocessor = task.model, task.tokenizer, task.preprocessor
    names = list(spec)

    def serve(*strings):
        return task.serving_fn(dict(zip(names, strings)))

    module.fn = tf.function(serve, input_signature=[tf.TensorSpec([None], tf.string, name=n) for n in names])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.fn})
    return tf.saved_model.load(str(path)).signatures["serving_default"]


@pytest.mark.slow
def test_tagger_and_qa_serving_fn_in_a_saved_model(tmp_path):
    tok = tiny5b.tokenizer()
    tagger = TokenTagger.build(tiny5b.backbone(tok.vocab_size, num_layers=1), tok,
                               ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], sequence_length=9, stride=3)
    texts = tf.constant(["José Müller-Lüdenscheidt vit à Zürich. 李明住在北京。", "", "Peter Blackburn"])
    served = _export_and_reload(tagger, {"text": tf.TensorSpec([None], tf.string)}, tmp_path / "tag")
    got = tagger.decode({k: np.asarray(v) for k, v in served(text=texts).items()})
    assert got == tagger.predict([t.decode() for t in texts.numpy()])

    qa = QuestionAnswerer.build(tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=24, stride=4,
                                max_query_length=8, n_best=3, version_2=True)
    spec = {"question": tf.TensorSpec([None], tf.string), "context": tf.TensorSpec([None], tf.string)}
    served = _export_and_reload(qa, spec, tmp_path / "qa")
    q = ["Where is Zürich?", "故宫建于哪一年？"]
    c = ["Zürich is a city in Switzerland and the cat sat on the mat.", "北京是中华人民共和国的首都，位于华北平原。故宫建于1406年到1420年。"]
    out = served(question=tf.constant(q), context=tf.constant(c))
    got = qa.decode({k: np.asarray(v) for k, v in out.items()})
    want = qa.answer(q, c)
    for g, w, ctx in zip(got, want, c):
        assert g["answer"] == w["answer"] and g["start"] == w["start"]
        assert [n["text"] for n in g["nbest"]] == [n["text"] for n in w["nbest"]]
        for n in g["nbest"]:
            assert ctx[n["start"]:n["end"]] == n["text"]
