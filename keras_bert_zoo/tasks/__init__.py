"""keras_bert_zoo.tasks."""
