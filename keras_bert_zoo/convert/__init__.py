"""keras_bert_zoo.convert."""
