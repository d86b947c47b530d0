"""`BertPreprocessor`: raw strings -> the three int32 inputs of BERT."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from kerasbert.text.basic_tokenization import as_tensor_or_ragged

TRUNCATIONS = ("round_robin", "waterfall")


@keras.saving.register_keras_serializable(package="kerasbert")
class BertPreprocessor(keras.layers.Layer):
    """Tokenizes one or more text segments and packs them as
    `[CLS] A [SEP] B [SEP] [PAD]...` into `input_word_ids`, `input_mask`
    and `input_type_ids` (segment i gets type id i), int32
    `[batch, seq_length]`.

    Segments too long for `seq_length` are trimmed by `truncation`:
    `"round_robin"` takes one token from each segment in turn (the TF Hub
    BERT preprocessors' rule), `"waterfall"` fills segment A first, then B.
    Trimming and packing use only core TensorFlow ops.

    Accepts a string tensor `[batch]` or a scalar (then outputs are
    `[seq_length]`), or a list of such tensors for several segments; works
    eagerly, in `tf.data.Dataset.map` and in `tf.function`s and SavedModels.

    Args:
        tokenizer: a `WordPieceTokenizer`.
        seq_length: length of the packed outputs.
        truncation: `"round_robin"` or `"waterfall"`.

    Example:

    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt"), seq_length=8)
    >>> preprocessor([["the cat"], ["sat"]])["input_word_ids"]
    <tf.Tensor: shape=(1, 8), dtype=int32, numpy=array([[ 101, 1996, 4937,  102, 2938,  102,    0,    0]], dtype=int32)>
    """

    def __init__(self, tokenizer, seq_length=128, truncation="round_robin", **kwargs):
        super().__init__(trainable=False, **kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if truncation not in TRUNCATIONS:
            raise ValueError(
                f"BertPreprocessor: truncation={truncation!r} is not one of {TRUNCATIONS}"
            )
        if not isinstance(seq_length, int) or seq_length < 2:
            raise ValueError(f"BertPreprocessor: seq_length={seq_length!r} must be an int >= 2")
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.tokenizer = tokenizer
        self.seq_length = seq_length
        self.truncation = truncation
        self.built = True

    def call(self, inputs):
        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        segments = [tf.convert_to_tensor(s, tf.string) for s in segments]
        return self.bert_pack_inputs([self.tokenizer.tokenize(s, flat=True) for s in segments])

    @tf.autograph.experimental.do_not_convert  # as WordPieceTokenizer.tokenize
    def bert_pack_inputs(self, segments, seq_length=None):
        """Packs already tokenized segments (each `[batch, tokens]` or
        `[batch, words, pieces]`, or unbatched `[tokens]`) into the three
        model inputs. `seq_length` overrides the constructor's (it may be a
        scalar tensor)."""
        seq_length = self.seq_length if seq_length is None else seq_length
        segments = [as_tensor_or_ragged(s, tf.int32) for s in segments]
        if segments[0].shape.rank == 1:  # unbatched
            batched = self.bert_pack_inputs([s[tf.newaxis] for s in segments], seq_length)
            return {key: value[0] for key, value in batched.items()}
        segments = [_as_ragged_tokens(s) for s in segments]
        budget = seq_length - (len(segments) + 1)  # room left after [CLS] and the [SEP]s
        if isinstance(budget, int) and budget < 0:
            raise ValueError(
                f"BertPreprocessor: seq_length={seq_length} is too short for "
                f"{len(segments)} segments and their special tokens"
            )
        segments = trim_segments(segments, budget, self.truncation)
        special = self.tokenizer.special_tokens
        word_ids, type_ids = tf_text.combine_segments(
            segments, special["start_of_sequence_id"], special["end_of_segment_id"]
        )
        word_ids, mask = tf_text.pad_model_inputs(word_ids, seq_length)
        type_ids, _ = tf_text.pad_model_inputs(type_ids, seq_length)
        return {
            "input_word_ids": word_ids,
            "input_mask": mask,
            "input_type_ids": type_ids,
        }

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config.update(
            tokenizer=keras.saving.serialize_keras_object(self.tokenizer),
            seq_length=self.seq_length,
            truncation=self.truncation,
        )
        return config


def _as_ragged_tokens(segment):
    if not isinstance(segment, tf.RaggedTensor):
        segment = tf.RaggedTensor.from_tensor(segment)
    if segment.ragged_rank > 1:
        segment = segment.merge_dims(1, -1)
    return tf.cast(segment, tf.int32)


def trim_segments(segments, budget, truncation):
    """Trims ragged `[batch, tokens]` segments to at most `budget` tokens
    per row in all. A token survives when fewer than `budget` tokens come
    before it in the order of `truncation`: position by position across the
    segments for round robin, segment after segment for waterfall."""
    lengths = [tf.cast(s.row_lengths(), tf.int32) for s in segments]
    trimmed = []
    for i, segment in enumerate(segments):
        positions = tf.ragged.range(lengths[i])
        j, rows = positions.flat_values, positions.value_rowids()
        if truncation == "round_robin":
            # tokens (k, j') taken before (i, j): j' <= j for k < i, j' < j for k >= i
            before = sum(
                tf.minimum(tf.gather(length, rows), j + (1 if k < i else 0))
                for k, length in enumerate(lengths)
            )
        else:
            before = sum(tf.gather(length, rows) for length in lengths[:i]) + j
        keep = positions.with_flat_values(before < budget)
        trimmed.append(tf.ragged.boolean_mask(segment, keep))
    return trimmed
