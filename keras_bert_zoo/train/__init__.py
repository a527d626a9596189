"""keras_bert_zoo.train."""
