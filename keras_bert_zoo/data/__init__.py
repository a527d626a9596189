"""keras_bert_zoo.data: file formats and tf.data pipelines (never exported; never imports ``tasks``).

    from keras_bert_zoo.data.task_files import FileOptions, labelled_reader
    data = labelled_reader("train.csv", FileOptions(text_column="text", label_column="label"))
    classifier.fit(data.x, data.y, epochs=2)

Modules: ``labelled`` (CSV / TSV / JSONL), ``task_files`` (the task file readers -> fit inputs; which one a task
uses is in its ``TaskSpec``), ``conll``, ``squad``,
``swag``, ``corpus`` (raw pretraining text), ``pretraining`` (MLM + NSP examples, TFRecord shards) and
``corpora`` (the demo's tweets).
"""
