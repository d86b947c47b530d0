"""`BertClassifier`: a linear layer on the pooled [CLS] vector."""

import keras
from keras import ops

from kerasbert.models.task_model import TaskModel


@keras.saving.register_keras_serializable(package="kerasbert")
class BertClassifier(TaskModel):
    """Sentence or sentence-pair classification, as in the BERT paper:
    `pooled_output` -> dropout -> dense -> `num_classes` logits (float32).
    Pairs are packed by the preprocessor as `[CLS] A [SEP] B [SEP]`.

    Args:
        encoder: a `BertEncoder` or a `kerasbert.hub.KerasLayer` over an
            exported encoder module.
        num_classes: number of labels.
        dropout: dropout rate before the output layer.
        freeze_encoder: train the head only (feature extraction).

    Example:

    >>> classifier = BertClassifier(BertEncoder(BertConfig.preset("tiny")), num_classes=5)
    >>> classifier.compile(keras.optimizers.AdamW(2e-5),
    ...                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> # classifier.fit(dataset_of_(features, label))
    """

    def __init__(self, encoder, num_classes, dropout=0.1, freeze_encoder=False, **kwargs):
        super().__init__(encoder, freeze_encoder=freeze_encoder, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=self.initializer, name="logits"
        )
        if self.hidden_size is not None:
            self.output_dense.build((None, self.hidden_size))

    def call(self, inputs, training=False):
        pooled = self.encode(inputs, training)["pooled_output"]
        return ops.cast(self.output_dense(self.head_dropout(pooled, training=training)), "float32")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout}
