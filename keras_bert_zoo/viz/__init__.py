"""keras_bert_zoo.viz: PNG plots — confusion matrices, training curves, attention heat maps (matplotlib, Agg).

    from keras_bert_zoo.viz import attention_scores, plot_attention, plot_confusion_matrix
    plot_confusion_matrix(report["confusion_matrix"], ["neg", "pos"], "report/confusion.png")
    tokens, scores = attention_scores(classifier, "what a day")       # scores [layers, heads, T, T]
    plot_attention(tokens, scores, "report/attention.png", layer=-1)  # the last layer, mean over heads
"""

from keras_bert_zoo.viz.plots import (attention_scores, plot_attention, plot_confusion_matrix,
                                      plot_training_curves)

__all__ = ["plot_confusion_matrix", "plot_training_curves", "plot_attention", "attention_scores"]
