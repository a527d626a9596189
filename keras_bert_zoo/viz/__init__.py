"""keras_bert_zoo.viz."""
