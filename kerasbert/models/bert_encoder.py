"""`BertEncoder`: the BERT transformer, ids in, contextual vectors out."""

import keras
import tensorflow as tf
from keras import ops

from kerasbert.config import BertConfig
from kerasbert.layers import BertEmbedding, TransformerEncoderBlock

# The names of the three inputs, as in TF Hub's BERT encoders.
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


@keras.saving.register_keras_serializable(package="kerasbert")
class BertEncoder(keras.Model):
    """BERT (or ALBERT-style) encoder with the TF Hub BERT interface.

    Inputs: a dict of int32 `[batch, seq]` tensors `input_word_ids`,
    `input_mask` (1 = token, 0 = padding; default all ones) and
    `input_type_ids` (segment ids; default zeros), or just the word ids.

    Outputs: a dict with `sequence_output` `[batch, seq, H]`, `pooled_output`
    `[batch, H]` (dense + tanh on the [CLS] vector), `encoder_outputs` (the
    output of each of the L blocks) and `default` (= `pooled_output`), all
    float32 whatever the dtype policy.

    Called with int `output_positions` `[batch, P]`, the last block runs
    only at [CLS] and those positions (see `TransformerEncoderBlock`):
    `sequence_output` and the last of `encoder_outputs` are then
    `[batch, P, H]`, the rows at `output_positions`, and `pooled_output` is
    unchanged. `BertPretrainer` trains this way, as its losses read no other
    rows.

    Args:
        config: a `BertConfig` (or its dict).
        concurrent_splits: at inference in a graph (`tf.function`,
            `predict`, a SavedModel), cut the batch into this many parts
            encoded side by side: TensorFlow's executor runs one part's
            LayerNorms, softmax and layout changes while another part's
            matrix products run. On 2 CPU cores BERT-base runs 5-7% faster
            at batch 8 with 2 parts, 2% at batch 32. Training and
            eager calls run the batch whole, as does a batch known at
            tracing to be smaller than `concurrent_splits`; a batch of
            unknown size is always cut, so a single sequence would pay
            for empty parts: keep the default 1 to serve single requests.
        **kwargs: `keras.Model` arguments such as `name` or `dtype`
            (`"mixed_bfloat16"`, `"mixed_float16"`).

    Example:

    >>> encoder = BertEncoder(BertConfig.preset("tiny", vocab_size=1000))
    >>> ids = ops.array([[2, 17, 45, 3, 0, 0]])
    >>> outputs = encoder({"input_word_ids": ids, "input_mask": ids > 0})
    >>> outputs["pooled_output"].shape
    (1, 128)
    """

    def __init__(self, config, concurrent_splits=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = BertConfig.from_dict(config)
        if isinstance(concurrent_splits, bool) or not isinstance(concurrent_splits, int) or concurrent_splits < 1:
            raise ValueError(f"BertEncoder: concurrent_splits={concurrent_splits!r} is not an integer >= 1")
        self.config = config
        self.concurrent_splits = concurrent_splits
        initializer = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        self.embedding = BertEmbedding(
            vocab_size=config.vocab_size,
            embedding_size=config.embedding_width,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            hidden_size=config.hidden_size,
            dropout=config.hidden_dropout_prob,
            layer_norm_eps=config.layer_norm_eps,
            initializer_range=config.initializer_range,
            dtype=self.dtype_policy,
            name="embedding",
        )
        num_blocks = 1 if config.share_layers else config.num_hidden_layers
        self.blocks = [
            TransformerEncoderBlock(
                hidden_size=config.hidden_size,
                num_attention_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size,
                hidden_act=config.hidden_act,
                dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob,
                layer_norm_eps=config.layer_norm_eps,
                initializer_range=config.initializer_range,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_blocks)
        ]
        self.pooler = keras.layers.Dense(
            config.hidden_size,
            activation="tanh",
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="pooler",
        )
        # Weights exist from construction on: count_params(), weight loading
        # and checkpoint restore work before the first call.
        self.embedding.build()
        for i, block in enumerate(self.blocks):
            block.build()
            # tf.train.Checkpoint does not follow Keras' tracked lists: name
            # each block as an attribute so checkpoints hold it by name.
            setattr(self, block.name, block)
        self.pooler.build((None, config.hidden_size))
        self.built = True

    def block(self, index):
        """The block applied at depth `index` (always the one block if shared)."""
        return self.blocks[0 if self.config.share_layers else index]

    def call(self, inputs, training=False, output_positions=None):
        if isinstance(inputs, dict):
            word_ids = inputs["input_word_ids"]
            mask = inputs.get("input_mask")
            type_ids = inputs.get("input_type_ids")
        else:
            word_ids, mask, type_ids = inputs, None, None
        word_ids = ops.cast(word_ids, "int32")
        mask = ops.ones_like(word_ids) if mask is None else ops.cast(mask, "int32")
        type_ids = ops.zeros_like(word_ids) if type_ids is None else ops.cast(type_ids, "int32")
        if tf.executing_eagerly():
            self._check_ids(word_ids, type_ids)
        parts = self._parts(word_ids, training)
        if parts == 1:
            return self._encode(word_ids, mask, type_ids, training, output_positions)
        # Independent parts, so the executor can overlap them.
        batch = ops.shape(word_ids)[0]
        bounds = [batch * i // parts for i in range(parts + 1)]
        outputs = [
            self._encode(
                word_ids[start:end],
                mask[start:end],
                type_ids[start:end],
                training,
                None if output_positions is None else output_positions[start:end],
            )
            for start, end in zip(bounds[:-1], bounds[1:])
        ]
        joined = {
            key: ops.concatenate([part[key] for part in outputs], axis=0)
            for key in ("sequence_output", "pooled_output")
        }
        joined["encoder_outputs"] = [
            ops.concatenate(layer, axis=0) for layer in zip(*(part["encoder_outputs"] for part in outputs))
        ]
        joined["default"] = joined["pooled_output"]
        return joined

    def _parts(self, word_ids, training):
        """How many parts the batch is encoded in (see `concurrent_splits`)."""
        known_batch = word_ids.shape[0]
        if training or tf.executing_eagerly() or (known_batch is not None and known_batch < self.concurrent_splits):
            return 1
        return self.concurrent_splits

    def _encode(self, word_ids, mask, type_ids, training, output_positions=None):
        x = self.embedding(word_ids, type_ids, training=training)
        layers = self.config.num_hidden_layers
        last_rows = None
        if output_positions is not None:  # [CLS] first, for the pooler
            last_rows = ops.concatenate([ops.zeros_like(output_positions[:, :1]), output_positions], axis=1)
        encoder_outputs = []
        for i in range(layers):
            rows = last_rows if i == layers - 1 else None
            x = self.block(i)(x, mask, training=training, output_positions=rows)
            encoder_outputs.append(ops.cast(x if rows is None else x[:, 1:], "float32"))
        sequence_output = encoder_outputs[-1]
        pooled_output = ops.cast(self.pooler(x[:, 0, :]), "float32")
        return {
            "sequence_output": sequence_output,
            "pooled_output": pooled_output,
            "encoder_outputs": encoder_outputs,
            "default": pooled_output,
        }

    def _check_ids(self, word_ids, type_ids):
        # Out-of-range ids would be silently zero on GPU and an opaque gather
        # error on CPU: name the input and the limit instead.
        for name, ids, limit in (
            ("input_word_ids", word_ids, self.config.vocab_size),
            ("input_type_ids", type_ids, self.config.type_vocab_size),
        ):
            values = ops.convert_to_numpy(ids)
            if values.size and (values.min() < 0 or values.max() >= limit):
                bad = values[(values < 0) | (values >= limit)][0]
                raise ValueError(f"BertEncoder: {name} contains {bad}, outside [0, {limit})")

    def get_config(self):
        return {
            "config": self.config.to_dict(),
            "concurrent_splits": self.concurrent_splits,
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

