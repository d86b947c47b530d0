"""`HubEncoder`: the root object of a TF Hub BERT encoder SavedModel."""

import tensorflow as tf

from kerasbert.models.bert_encoder import ENCODER_INPUTS

# Outputs that are single tensors (a signature cannot return `encoder_outputs`, a list).
TENSOR_OUTPUTS = ("pooled_output", "sequence_output", "default")


def input_specs(seq_length=None):
    """The encoder's inputs: int32 `[batch, seq_length]` each."""
    return {name: tf.TensorSpec([None, seq_length], tf.int32, name=name) for name in ENCODER_INPUTS}


def tensor_outputs(outputs):
    return {name: outputs[name] for name in TENSOR_OUTPUTS}


class HubEncoder(tf.__internal__.tracking.AutoTrackable):
    """A `BertEncoder` as a TF Hub "reusable SavedModel", with the interface
    of Google's `bert_en_uncased_L-12_H-768_A-12` modules.

    `module(inputs, training=False)` takes the dict of int32
    `input_word_ids`, `input_mask`, `input_type_ids` `[batch, seq]` and
    returns `pooled_output`, `sequence_output`, `encoder_outputs` (one per
    block) and `default` (= `pooled_output`). `variables`,
    `trainable_variables` and `regularization_losses` are what
    `hub.KerasLayer` fine-tunes; `vocab_file` (an asset) and `do_lower_case`
    say how to tokenize. With `mlm_head`, `module.mlm(inputs)` also takes
    `masked_lm_positions` `[batch, P]` and adds `mlm_logits` `[batch, P, vocab]`.

    Args:
        encoder: a `BertEncoder` (its trained pooler is exported).
        vocab_file: the `vocab.txt` of the encoder's vocabulary.
        lower_case: whether the vocabulary is uncased.
        mlm_head: optional `MaskedLMHead` trained with the encoder.

    Example:

    >>> tf.saved_model.save(HubEncoder(encoder, "vocab.txt", True), "encoder")
    >>> hub.load("encoder")(inputs)["pooled_output"]
    """

    def __init__(self, encoder, vocab_file, lower_case, mlm_head=None):
        super().__init__()
        # The Keras objects stay out of the saved object graph (the functions
        # below hold them): Keras 3 variables would be saved twice, and the
        # copies the TF1 loader restores (TF Serving, the C API) would not be
        # the ones the functions read.
        self.vocab_file = tf.saved_model.Asset(vocab_file)
        self.do_lower_case = tf.Variable(lower_case, trainable=False, name="do_lower_case")
        # `variables` includes Keras' dropout seed states: __call__ uses them.
        self.variables = [v.value for v in encoder.variables]
        self.trainable_variables = [v.value for v in encoder.trainable_weights]
        self.regularization_losses = []

        @tf.function
        def call(inputs, training=False):
            return encoder(_encoder_inputs(inputs), training=training)

        for training in (False, True):
            call.get_concrete_function(input_specs(), training=training)
        self.__call__ = call

        @tf.function(input_signature=[input_specs()])
        def serving_default(inputs):
            return tensor_outputs(encoder(inputs, training=False))

        self.serving_default = serving_default
        if mlm_head is not None:
            self.mlm = _MaskedLM(encoder, mlm_head)


class _MaskedLM(tf.__internal__.tracking.AutoTrackable):
    """The `mlm` sub-object: encoder outputs plus `mlm_logits`."""

    def __init__(self, encoder, mlm_head):
        super().__init__()
        self.variables = [v.value for v in encoder.variables + mlm_head.variables]
        self.trainable_variables = [
            v.value for v in encoder.trainable_weights + mlm_head.trainable_weights
        ]
        self.regularization_losses = []

        @tf.function
        def call(inputs, training=False):
            outputs = dict(encoder(_encoder_inputs(inputs), training=training))
            outputs["mlm_logits"] = mlm_head(
                outputs["sequence_output"],
                inputs["masked_lm_positions"],
                encoder.embedding.word_embeddings,
            )
            return outputs

        specs = dict(input_specs(), masked_lm_positions=tf.TensorSpec([None, None], tf.int32))
        for training in (False, True):
            call.get_concrete_function(specs, training=training)
        self.__call__ = call


def _encoder_inputs(inputs):
    return {name: inputs[name] for name in ENCODER_INPUTS}
