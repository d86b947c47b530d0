"""`WordPieceTokenizer`: BERT tokenization in the TensorFlow graph."""

import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from kerasbert.text import basic_tokenization as basic
from kerasbert.text.vocabulary import read_vocab

IMPLEMENTATIONS = ("fast", "classic")
# Words are capped at 100 characters before WordPiece (longer -> [UNK]); the
# ops count bytes, and a UTF-8 character has at most 4.
MAX_WORD_BYTES = 4 * basic.MAX_WORD_CHARS
# Batches holding less text than this are tokenized whole: splitting costs
# about 0.2 ms, more than it saves on a few sentences.
MIN_SHARDED_BYTES = 16384


# The tokenizer has no Python control flow on tensors: building its graph
# without AutoGraph's source conversion (of this code and of tf.text's) is
# faster, for tf.function, tf.data map and SavedModel export alike (tracing
# took 2.6 s with it, 1.0-1.2 s without; 0.2 s since the ragged results are
# no longer validated, see `basic_tokenization.regex_split_with_offsets`).
_plain_graph = tf.autograph.experimental.do_not_convert


def usable_cores():
    """Threads TensorFlow runs independent ops on: its inter-op setting,
    else the cores this process may use."""
    return tf.config.threading.get_inter_op_parallelism_threads() or len(os.sched_getaffinity(0))


@keras.saving.register_keras_serializable(package="kerasbert")
class WordPieceTokenizer(keras.layers.Layer):
    """BERT's tokenizer: basic tokenization (see `basic_tokenization`) then
    greedy longest-match WordPiece with `##` continuation pieces. Gives the
    same ids as Hugging Face `BertTokenizerFast` built from the same
    `vocab.txt`.

    Two implementations of the WordPiece step give identical ids:
    `"fast"` (tf.text `FastWordpieceTokenizer`, linear time; for training
    input) and `"classic"` (tf.text `WordpieceTokenizer` over a lookup table
    of the pieces; its ops are the ones TF Serving builds include).

    Args:
        vocab_file: a BERT `vocab.txt`, one piece per line, holding [PAD],
            [UNK], [CLS], [SEP] and [MASK].
        lower_case: strip accents and lower-case (uncased models).
        implementation: `"fast"` or `"classic"`.

    Example:

    >>> tokenizer = WordPieceTokenizer("vocab.txt")
    >>> tokenizer.tokenize(["Hello, world!"])  # [batch, words, pieces]
    <tf.RaggedTensor [[[7592], [1010], [2088], [999]]]>
    >>> tokenizer.detokenize([[7592, 1010, 2088, 999]])
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'hello, world!'], dtype=object)>
    """

    def __init__(self, vocab_file, lower_case=True, implementation="fast", **kwargs):
        super().__init__(trainable=False, **kwargs)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"WordPieceTokenizer: implementation={implementation!r} is not one of "
                f"{IMPLEMENTATIONS}"
            )
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.vocab_file = os.fspath(vocab_file)
        self.lower_case = lower_case
        self.implementation = implementation

        self.vocabulary = read_vocab(self.vocab_file)
        ids = {token: i for i, token in enumerate(self.vocabulary)}
        self.special_tokens = {
            "padding_id": ids["[PAD]"],
            "unknown_id": ids["[UNK]"],
            "start_of_sequence_id": ids["[CLS]"],
            "end_of_segment_id": ids["[SEP]"],
            "mask_id": ids["[MASK]"],
            "vocab_size": len(self.vocabulary),
        }
        if implementation == "fast":
            self._wordpiece = tf_text.FastWordpieceTokenizer(
                vocab=self.vocabulary,
                token_out_type=tf.int32,
                max_bytes_per_word=MAX_WORD_BYTES,
                no_pretokenization=True,
            )
        else:
            # A table built from the pieces, not from the file: a table
            # initialized from a file puts that file's path into the graph.
            table = tf.lookup.StaticVocabularyTable(
                tf.lookup.KeyValueTensorInitializer(
                    self.vocabulary, tf.range(len(self.vocabulary), dtype=tf.int64)
                ),
                num_oov_buckets=1,
            )
            self._wordpiece = tf_text.WordpieceTokenizer(
                table,
                token_out_type=tf.int64,
                max_bytes_per_word=MAX_WORD_BYTES,
            )
        self._pieces = tf.constant(self.vocabulary)
        self.built = True

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def _words_with_offsets(self, text):
        """Normalized words `[..., words]` with the raw words' byte offsets."""
        words, starts, ends = basic.split_words(basic.repair_utf8(text))
        normalized = tf.ragged.map_flat_values(basic.normalize_words, words, self.lower_case)
        keep = tf.not_equal(normalized, "")
        return tuple(tf.ragged.boolean_mask(t, keep) for t in (normalized, starts, ends))

    @_plain_graph
    def tokenize(self, text, flat=False):
        """Strings `[batch]` (or a scalar) -> int32 ids, ragged
        `[batch, words, pieces]`, or `[batch, tokens]` with `flat=True`."""
        text = tf.convert_to_tensor(text, tf.string)
        if text.shape.rank == 0:
            return self.tokenize(text[tf.newaxis], flat)[0]
        return self._sharded(lambda part: self._tokenize(part, flat), text)

    def _tokenize(self, text, flat):
        words = basic.normalized_words(basic.repair_utf8(text), self.lower_case)
        ids = tf.cast(self._wordpiece.tokenize(words), tf.int32)
        return basic.merge_last_two_dims(ids) if flat else ids

    def _sharded(self, tokenize, text):
        """`tokenize(text)`, on a large `[batch]` in a graph cut into one part
        per core. tf.text's ops run a batch on one thread; the parts are
        independent ops, which TensorFlow's inter-op pool runs in parallel.
        Parts hold about as many bytes each (articles vary in length); the
        results are concatenated in order, so the output is the same."""
        shards = usable_cores()
        if tf.executing_eagerly() or shards < 2 or text.shape.rank != 1:
            return tokenize(text)
        lengths = tf.cast(tf.strings.length(text), tf.int64)
        total = tf.reduce_sum(lengths)

        def sharded():
            targets = total * tf.range(1, shards, dtype=tf.int64) // shards
            cuts = tf.cast(tf.searchsorted(tf.cumsum(lengths), targets), tf.int32)
            cuts = tf.concat([[0], cuts, tf.shape(text)], 0)
            parts = tf.split(text, cuts[1:] - cuts[:-1], num=shards)
            results = [tokenize(part) for part in parts]
            return tf.nest.map_structure(lambda *pieces: tf.concat(pieces, 0), *results)

        return tf.cond(total >= MIN_SHARDED_BYTES, sharded, lambda: tokenize(text))

    def call(self, text):
        return self.tokenize(text)

    @_plain_graph
    def tokenize_with_offsets(self, text):
        """Like `tokenize`, plus the start and end byte offsets of each piece
        in `text` (after invalid UTF-8 is replaced by U+FFFD). Offsets inside
        a word are exact when normalization kept the word's byte length
        (ASCII, most text); otherwise each piece spans its whole word.
        Words are split before they are normalized here (offsets need the raw
        words), so the rare characters that normalization turns into
        punctuation (U+1FEF, U+1FED -> "`") stay inside their word, where
        `tokenize` splits them off as Hugging Face does."""
        text = tf.convert_to_tensor(text, tf.string)
        if text.shape.rank == 0:
            return tuple(t[0] for t in self.tokenize_with_offsets(text[tf.newaxis]))
        # Not cut into parts: its users (SQuAD, CoNLL) tokenize offline.
        return self._tokenize_with_offsets(text)

    def _tokenize_with_offsets(self, text):
        words, word_starts, word_ends = self._words_with_offsets(text)
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(words)
        # Piece offsets count from the start of their word. Computed on flat
        # values: ragged arithmetic adds validation asserts (a `tf.cond` each
        # in a graph), which made this graph take ~13 s to build and run once.
        word = starts.nested_value_rowids()[-1]  # each piece's word
        word_start = tf.gather(word_starts.flat_values, word)
        word_end = tf.gather(word_ends.flat_values, word)
        byte_lengths = tf.cast(tf.strings.length(words.flat_values), tf.int64)
        same_length = tf.equal(byte_lengths, word_ends.flat_values - word_starts.flat_values)
        exact = tf.gather(same_length, word)
        piece_starts = tf.cast(starts.flat_values, tf.int64) + word_start
        piece_ends = tf.cast(ends.flat_values, tf.int64) + word_start
        starts = starts.with_flat_values(tf.where(exact, piece_starts, word_start))
        ends = ends.with_flat_values(tf.where(exact, piece_ends, word_end))
        return tf.cast(ids, tf.int32), starts, ends

    @_plain_graph
    def detokenize(self, ids):
        """Ids `[batch, tokens]` (dense or ragged) -> strings, as Hugging
        Face's `decode`: pieces joined by spaces, `##` glued, and the space
        before `. , ! ?` removed."""
        ids = basic.as_tensor_or_ragged(ids, tf.int32)
        text = tf.strings.reduce_join(tf.gather(self._pieces, ids), axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, " ##", "")
        return tf.strings.regex_replace(text, r" ([.?!,])", r"\1")

    @_plain_graph
    def count_invalid_utf8(self, text):
        """Invalid UTF-8 sequences per string: tokenization replaces them."""
        return basic.count_invalid_utf8(tf.convert_to_tensor(text, tf.string))

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config.update(
            vocab_file=self.vocab_file,
            lower_case=self.lower_case,
            implementation=self.implementation,
        )
        return config
