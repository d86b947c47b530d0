"""`HubTextEncoder`: raw strings in, BERT encoder outputs out, in one SavedModel."""

import tensorflow as tf

from kerasbert.export.hub_encoder import tensor_outputs
from kerasbert.text import BertPreprocessor


class HubTextEncoder(tf.__internal__.tracking.AutoTrackable):
    """Tokenizer, packing and encoder as one TF Hub reusable SavedModel:
    `module(strings, training=False)` takes tf.string `[batch]` and returns
    the encoder's outputs (`pooled_output`, `sequence_output`,
    `encoder_outputs`, `default`) for `[CLS] text [SEP]` at `seq_length`.
    Fine-tunable like the encoder module (`variables`,
    `trainable_variables`, `regularization_losses`).

    Args:
        encoder: a `BertEncoder`.
        tokenizer: a `WordPieceTokenizer` for the encoder's vocabulary.
        seq_length: tokens per text, [CLS] and [SEP] included (longer texts
            are truncated).

    Example:

    >>> tf.saved_model.save(HubTextEncoder(encoder, tokenizer), "text_encoder")
    >>> hub.load("text_encoder")(tf.constant(["Hello, how are you?"]))["pooled_output"]
    """

    def __init__(self, encoder, tokenizer, seq_length=128):
        super().__init__()
        # Keras models stay out of the saved object graph: see HubEncoder.
        self.packer = BertPreprocessor(tokenizer, seq_length=seq_length)
        self.vocab_file = tf.saved_model.Asset(tokenizer.vocab_file)
        self.do_lower_case = tf.Variable(tokenizer.lower_case, trainable=False, name="do_lower_case")
        self.variables = [v.value for v in encoder.variables]
        self.trainable_variables = [v.value for v in encoder.trainable_weights]
        self.regularization_losses = []

        @tf.function
        def call(strings, training=False):
            return encoder(self.packer(strings), training=training)

        for training in (False, True):
            call.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
        self.__call__ = call

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_default(text):
            return tensor_outputs(encoder(self.packer(text), training=False))

        self.serving_default = serving_default
