"""`HubPreprocessor`: the root object of a TF Hub BERT preprocessor SavedModel."""

import tensorflow as tf

from kerasbert.text import BertPreprocessor

SPECIAL_TOKENS = ("padding_id", "start_of_sequence_id", "end_of_segment_id", "mask_id", "vocab_size")


class HubPreprocessor(tf.__internal__.tracking.AutoTrackable):
    """Text preprocessing for BERT as a TF Hub SavedModel, with the interface
    of Google's `bert_en_uncased_preprocess` modules:

    - `module(strings)`: one segment `[batch]` -> `input_word_ids`,
      `input_mask`, `input_type_ids`, int32 `[batch, seq_length]`;
    - `module.tokenize(strings)`: int32 ragged `[batch, words, pieces]`;
      `module.tokenize.get_special_tokens_dict()`: int32 scalars;
    - `module.bert_pack_inputs(segments, seq_length=...)`: 1 or 2 tokenized
      segments -> the three inputs, trimmed round robin.

    The vocabulary travels as the asset `assets/vocab.txt`. The graph uses
    only core TensorFlow ops and those of tf.text's classic `BertTokenizer`
    when the tokenizer's implementation is `"classic"`.

    Args:
        tokenizer: a `WordPieceTokenizer`.
        seq_length: length of `module(strings)`'s outputs and the default
            of `bert_pack_inputs`.

    Example:

    >>> tf.saved_model.save(HubPreprocessor(WordPieceTokenizer("vocab.txt", implementation="classic")), "preprocessor")
    >>> hub.load("preprocessor")(tf.constant(["hello world"]))["input_word_ids"]
    """

    def __init__(self, tokenizer, seq_length=128):
        super().__init__()
        self.packer = BertPreprocessor(tokenizer, seq_length=seq_length)
        self.tokenizer = tokenizer
        self.vocab_file = tf.saved_model.Asset(tokenizer.vocab_file)
        self.do_lower_case = tf.Variable(tokenizer.lower_case, trainable=False, name="do_lower_case")
        self.tokenize = _Tokenize(tokenizer)
        self.bert_pack_inputs = _PackInputs(self.packer, seq_length)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def call(strings):
            return self.packer(strings)

        self.__call__ = call


class _Tokenize(tf.__internal__.tracking.AutoTrackable):
    def __init__(self, tokenizer):
        super().__init__()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def call(strings):
            return tokenizer.tokenize(strings)

        @tf.function(input_signature=[])
        def get_special_tokens_dict():
            return {
                name: tf.constant(tokenizer.special_tokens[name], tf.int32) for name in SPECIAL_TOKENS
            }

        self.__call__ = call
        self.get_special_tokens_dict = get_special_tokens_dict


class _PackInputs(tf.__internal__.tracking.AutoTrackable):
    def __init__(self, packer, seq_length):
        super().__init__()

        @tf.function
        def call(segments, seq_length=seq_length):
            return packer.bert_pack_inputs(list(segments), seq_length)

        length = tf.TensorSpec([], tf.int32)
        for count in (1, 2):
            for ragged_rank in (1, 2):  # [batch, tokens] or [batch, words, pieces]
                shape = [None] * (ragged_rank + 1)
                segment = tf.RaggedTensorSpec(shape, tf.int32, ragged_rank=ragged_rank)
                call.get_concrete_function([segment] * count, length)
        self.__call__ = call
