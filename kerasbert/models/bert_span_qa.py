"""`BertSpanQA`: start and end logits of an answer span."""

import keras
from keras import ops

from kerasbert.models.task_model import TaskModel

# Added to the logits of padding so that no span starts or ends there.
MASKED_LOGIT = -1e4


@keras.saving.register_keras_serializable(package="kerasbert")
class BertSpanQA(TaskModel):
    """Extractive question answering (SQuAD): one dense layer maps each
    token of `[CLS] question [SEP] context [SEP]` to a start and an end
    logit. Outputs `start_logits` and `end_logits`, float32 `[batch, seq]`,
    padding masked out; position 0 ([CLS]) stands for "no answer".

    Args:
        encoder: a `BertEncoder` or a `kerasbert.hub.KerasLayer`.
        freeze_encoder: train the head only (feature extraction).

    Example:

    >>> qa = BertSpanQA(BertEncoder(BertConfig.preset("tiny")))
    >>> qa.compile("adamw", loss={"start_logits": keras.losses.SparseCategoricalCrossentropy(True),
    ...                           "end_logits": keras.losses.SparseCategoricalCrossentropy(True)})
    """

    def __init__(self, encoder, freeze_encoder=False, **kwargs):
        super().__init__(encoder, freeze_encoder=freeze_encoder, **kwargs)
        self.span_dense = keras.layers.Dense(2, kernel_initializer=self.initializer, name="span")
        if self.hidden_size is not None:
            self.span_dense.build((None, None, self.hidden_size))

    def call(self, inputs, training=False):
        sequence = self.encode(inputs, training)["sequence_output"]
        logits = ops.cast(self.span_dense(sequence), "float32")
        padding = (1.0 - ops.cast(inputs["input_mask"], "float32")) * MASKED_LOGIT
        return {
            "start_logits": logits[..., 0] + padding,
            "end_logits": logits[..., 1] + padding,
        }
