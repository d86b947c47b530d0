"""`TaskModel`: what the fine-tuning models share (an encoder, frozen or not)."""

import keras

from kerasbert.models.bert_encoder import ENCODER_INPUTS


class TaskModel(keras.Model):
    """Base of the task models: holds the encoder (a `BertEncoder`, or a
    `kerasbert.hub.KerasLayer` over an exported encoder module) and
    serializes it. With `freeze_encoder=True` only the head trains
    (feature extraction); the encoder still runs in inference mode then,
    so its dropout is off.

    Args:
        encoder: a `BertEncoder` or a `kerasbert.hub.KerasLayer`.
        freeze_encoder: train the head only.
    """

    def __init__(self, encoder, freeze_encoder=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            encoder.trainable = False

    def encode(self, inputs, training=False):
        """The encoder's outputs for the three inputs of `inputs`."""
        missing = [k for k in ENCODER_INPUTS if k not in inputs]
        if missing:
            raise ValueError(f"{type(self).__name__}: inputs lack {missing}; got {sorted(inputs)}")
        features = {k: inputs[k] for k in ENCODER_INPUTS}
        return self.encoder(features, training=training and not self.freeze_encoder)

    @property
    def hidden_size(self):
        config = getattr(self.encoder, "config", None)
        if config is not None:
            return config.hidden_size
        return None

    @property
    def initializer(self):
        config = getattr(self.encoder, "config", None)
        stddev = config.initializer_range if config is not None else 0.02
        return keras.initializers.TruncatedNormal(stddev=stddev)

    def get_config(self):
        return {
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "freeze_encoder": self.freeze_encoder,
            "name": self.name,
            "trainable": self.trainable,
        }
