"""The task table (tasks/registry.py): one TaskSpec per task, the lookups that go through it."""

import pytest

from keras_bert_zoo.tasks import TaskError, registry
from keras_bert_zoo.tasks.registry import TaskSpec, register_task

BUILTIN = {"classify": "TextClassifier", "regress": "TextRegressor", "tag": "TokenClassifier",
           "qa": "QuestionAnswerer", "choice": "MultipleChoice", "fill_mask": "MaskedLM", "embed": "TextEmbedder",
           "pretrain": "Pretrainer"}


def test_every_builtin_task_is_registered_with_its_class_stamped():
    names = registry.task_names()
    assert set(BUILTIN) <= set(names)
    for name, class_name in BUILTIN.items():
        spec = registry.get_spec(name)
        assert spec.task_class.__name__ == class_name and spec.task_class.task_type == name
        assert spec.task_class.hf_architecture == spec.hf_architecture
        assert registry.spec_of(spec.task_class) is spec
        if name != "pretrain":
            assert spec.reader is not None and spec.evaluator is not None and spec.legacy is not None
    models = registry.task_models()
    assert models["BertForSequenceClassification"].__name__ == "TextClassifier"
    assert models["BertModel"].__name__ == "BertBackbone" and len(models) == 7


def test_unknown_names_and_conflicts_are_errors():
    with pytest.raises(TaskError, match="unknown task 'nope'; known tasks: .*classify"):
        registry.get_spec("nope")
    classify = registry.get_spec("classify")
    assert register_task(classify) is classify               # the same spec again (a module imported twice)
    with pytest.raises(TaskError, match="already registered"):
        register_task(TaskSpec(name="classify", task_class=type("Other", (), {})))
    with pytest.raises(TaskError, match="already registered as task 'classify'"):
        register_task(TaskSpec(name="classify_again", task_class=classify.task_class))
    with pytest.raises(TaskError, match="not a registered task"):
        registry.spec_of(object())
    with pytest.raises(TaskError, match="cannot be imported"):
        registry.import_task_modules(["no_such_module_for_tasks"])


def test_each_builtin_evaluator_and_check_resolves():
    for spec in registry.specs():
        for fn in (spec.evaluator, spec.check_data):
            if fn is not None:
                assert callable(registry._function(fn)), (spec.name, fn)
