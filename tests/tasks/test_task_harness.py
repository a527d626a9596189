"""Every task model through the shared harness (tests/tasks/harness.py) on tiny odd-shaped models."""

from keras_bert_zoo.text import BertPreprocessor
from tests.tasks.harness import run_task_test
from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer

TEXTS = ["the movie was good and great", "the film was bad", "ok", "awful awful plot", "the acting was fine",
         "meh", "love the cars", "terrible and bad acting"]
LABELS = ["positive", "negative", "neutral", "negative", "positive", "neutral", "positive", "negative"]
PREDICT = ["the movie was good", "bad", "中文 text", ""]


def factory(cls, sequence_length=16, **kwargs):
    def make():
        backbone, tokenizer = tiny_backbone_and_tokenizer()
        return cls(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=sequence_length), **kwargs)

    return make


def test_text_classifier(tmp_path):
    from keras_bert_zoo.tasks import TextClassifier

    run_task_test(factory(TextClassifier, labels=["negative", "neutral", "positive"]), TEXTS, LABELS, PREDICT,
                  tmp_path)


def test_text_classifier_pairs_with_class_ids(tmp_path):
    from keras_bert_zoo.tasks import TextClassifier

    x = {"text": TEXTS, "text_pair": list(reversed(TEXTS))}
    run_task_test(factory(TextClassifier, num_classes=2, pairs=True), x, [i % 2 for i in range(8)],
                  {"text": PREDICT, "text_pair": PREDICT[::-1]}, tmp_path, mixed_precision=False)


def test_text_classifier_multi_label(tmp_path):
    from keras_bert_zoo.tasks import TextClassifier

    y = [["positive"], ["negative"], [], ["negative", "neutral"], "positive,neutral", [], ["positive"], "negative"]
    task = run_task_test(factory(TextClassifier, labels=["negative", "neutral", "positive"], multi_label=True),
                         TEXTS, y, PREDICT, tmp_path, mixed_precision=False)
    assert task.predict(PREDICT, verbose=0)["predictions"].shape == (4, 3)


def test_text_regressor(tmp_path):
    from keras_bert_zoo.tasks import TextRegressor

    run_task_test(factory(TextRegressor), TEXTS, [float(i) / 8 for i in range(8)], PREDICT, tmp_path,
                  mixed_precision=False)


def test_multiple_choice(tmp_path):
    from keras_bert_zoo.tasks import MultipleChoice

    x = {"context": TEXTS, "choice_0": TEXTS[::-1], "choice_1": TEXTS, "choice_2": ["ok"] * 8}
    px = {"context": PREDICT, "choice_0": PREDICT, "choice_1": PREDICT[::-1], "choice_2": ["x"] * 4}
    run_task_test(factory(MultipleChoice, num_choices=3), x, [i % 3 for i in range(8)], px, tmp_path)


def test_masked_lm(tmp_path):
    from keras_bert_zoo.tasks import MaskedLM

    px = ["the movie was [MASK] .", "[MASK] [MASK] film", "no mask", "中文 [MASK]"]
    task = run_task_test(factory(MaskedLM, top_k=3, masked_lm_prob=0.3), TEXTS, None, px, tmp_path)
    out = task.predict(px, verbose=0)
    assert out["num_masks"].tolist() == [1, 2, 0, 1] and out["tokens"].shape[-1] == 3


def test_masked_lm_reads_special_tokens_like_hf_fill_mask(tmp_path):
    """Fill-mask tokenizes with special_tokens_in_strings: "[MASK]", "[SEP]" ... written in a text are their ids
    (HF BertTokenizerFast); "[mask]" or "[MASK" are ordinary text."""
    from keras_bert_zoo.tasks import MaskedLM
    from tests.conftest import require

    transformers = require("transformers")
    task = factory(MaskedLM, sequence_length=24)()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(task.tokenizer.vocabulary) + "\n", encoding="utf-8")
    hf = transformers.BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    texts = ["the movie was [MASK].", "[MASK][SEP]film [mask] [MASK", "a [CLS] b [UNK] [PAD]", "中文[MASK]"]
    packed = task.preprocess({"text": texts})
    want = hf(texts, padding="max_length", max_length=24)["input_ids"]
    assert packed["token_ids"].numpy().tolist() == want
    assert packed["num_masks"].numpy().tolist() == [1, 1, 0, 1]


def test_text_embedder(tmp_path):
    from keras_bert_zoo.tasks import TextEmbedder

    x = {"anchor": TEXTS, "positive": TEXTS[::-1]}
    task = run_task_test(factory(TextEmbedder), x, None, PREDICT, tmp_path)
    emb = task.predict(PREDICT, verbose=0)["embeddings"]
    assert emb.shape == (4, 32)


DOCS = [["the movie was good .", "the plot was bad .", "ok ."], ["love the cars .", "awful acting !"],
        ["the film was fine .", "meh .", "terrible and bad ."]] * 3


def test_pretrainer(tmp_path):
    """Documents in (pairs and masks made by data.pretraining); no raw strings served: checks on a packed batch."""
    from keras_bert_zoo.tasks import Pretrainer

    make = factory(Pretrainer, sequence_length=16, max_predictions_per_seq=4)
    packed = next(iter(make().make_dataset(DOCS, batch_size=4)))[0]
    task = run_task_test(make, DOCS, None, tmp_path=tmp_path, packed=packed)
    assert set(task.predict_on_batch(packed)) == {"mlm_logits", "nsp_logits"}


def test_distiller(tmp_path):
    """The student under the distillation objective; the student is what is saved and exported."""
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.tasks.distiller import Distiller

    labels = ["negative", "neutral", "positive"]

    def make():
        teacher = factory(TextClassifier, labels=labels)()
        student = factory(TextClassifier, labels=labels)()
        return Distiller(teacher, student, temperature=2.0, alpha=0.5)

    task = run_task_test(make, TEXTS, LABELS, PREDICT, tmp_path, shipped=lambda d: d.student)
    assert task.predict(PREDICT, verbose=0)["label_names"].shape == (4,)


def test_validation_data_tuple_of_texts_and_label_names():
    """Keras's convention: validation_data=(x, y) even when both are lists of strings."""
    from keras_bert_zoo.tasks import TextClassifier

    clf = factory(TextClassifier, labels=["negative", "neutral", "positive"])()
    logs = clf.fit(TEXTS, LABELS, validation_data=(TEXTS[:4], LABELS[:4]), epochs=1, batch_size=4, verbose=0)
    assert "val_loss" in logs.history and "val_accuracy" in logs.history
