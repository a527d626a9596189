"""keras_bert_zoo.export."""
