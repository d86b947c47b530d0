import keras
import numpy as np
import pytest
import tensorflow as tf
import transformers

from kerasbert.text import BertPreprocessor, WordPieceTokenizer
from kerasbert.text.bert_preprocessor import trim_segments

CLS, SEP = 101, 102


@pytest.fixture(scope="module")
def tokenizer(minilm_vocab):
    return WordPieceTokenizer(minilm_vocab)


def tokens(n, start=1000):
    return list(range(start, start + n))


def expected_lengths(lengths, budget, truncation):
    """The rules, written as a loop: round robin hands out one token per
    segment in turn; waterfall fills segments in order."""
    taken = [0] * len(lengths)
    if truncation == "waterfall":
        for i, n in enumerate(lengths):
            taken[i] = min(n, budget - sum(taken))
        return taken
    while sum(taken) < budget and any(t < n for t, n in zip(taken, lengths)):
        for i, n in enumerate(lengths):
            if taken[i] < n and sum(taken) < budget:
                taken[i] += 1
    return taken


@pytest.mark.parametrize("truncation", ["round_robin", "waterfall"])
@pytest.mark.parametrize("seq_length", [8, 128, 512])
def test_packing_and_truncation(tokenizer, truncation, seq_length):
    preprocessor = BertPreprocessor(tokenizer, seq_length=seq_length, truncation=truncation)
    rng = np.random.RandomState(seq_length)
    cases = [(0, 0), (3, 2), (1, 40), (40, 1), (300, 300), (seq_length, 2), (5, seq_length)]
    cases += [tuple(rng.randint(0, 2 * seq_length, 2)) for _ in range(5)]
    a = tf.ragged.constant([tokens(n) for n, _ in cases], tf.int32, ragged_rank=1)
    b = tf.ragged.constant([tokens(m, 5000) for _, m in cases], tf.int32, ragged_rank=1)
    packed = preprocessor.bert_pack_inputs([a, b])
    for key in packed:
        assert packed[key].shape == (len(cases), seq_length) and packed[key].dtype == tf.int32
    for row, (n, m) in enumerate(cases):
        kept_a, kept_b = expected_lengths([n, m], seq_length - 3, truncation)
        ids = [CLS] + tokens(kept_a) + [SEP] + tokens(kept_b, 5000) + [SEP]
        used = len(ids)
        pad = seq_length - used
        assert packed["input_word_ids"][row].numpy().tolist() == ids + [0] * pad
        assert packed["input_mask"][row].numpy().tolist() == [1] * used + [0] * pad
        types = [0] * (kept_a + 2) + [1] * (kept_b + 1) + [0] * pad
        assert packed["input_type_ids"][row].numpy().tolist() == types


def test_round_robin_and_waterfall_on_three_segments():
    segments = [tf.ragged.constant([tokens(n)], tf.int32) for n in (7, 2, 9)]
    for truncation, expected in (("round_robin", [4, 2, 4]), ("waterfall", [7, 2, 1])):
        trimmed = trim_segments(segments, 10, truncation)
        assert [int(t.row_lengths()[0]) for t in trimmed] == expected
        assert expected == expected_lengths([7, 2, 9], 10, truncation)
        # trimming keeps each segment's prefix
        assert [t[0].numpy().tolist() for t in trimmed] == [tokens(n) for n in expected]


def test_strings_in_match_hugging_face_pairs(tokenizer, minilm_vocab):
    hf = transformers.BertTokenizerFast(minilm_vocab)
    a = ["The cat sat on the mat.", "Short", ""]
    b = ["It was happy.", "A much longer second segment here", "only b"]
    packed = BertPreprocessor(tokenizer, seq_length=16)([tf.constant(a), tf.constant(b)])
    expected = hf(a, b, padding="max_length", max_length=16, return_tensors="np")
    np.testing.assert_array_equal(packed["input_word_ids"], expected["input_ids"])
    np.testing.assert_array_equal(packed["input_mask"], expected["attention_mask"])
    np.testing.assert_array_equal(packed["input_type_ids"], expected["token_type_ids"])


def test_empty_and_whitespace_give_cls_sep_only(tokenizer):
    packed = BertPreprocessor(tokenizer, seq_length=6)(tf.constant(["", "  \t\n ", "\x00\u200b"]))
    assert packed["input_word_ids"].numpy().tolist() == [[CLS, SEP, 0, 0, 0, 0]] * 3
    assert packed["input_mask"].numpy().tolist() == [[1, 1, 0, 0, 0, 0]] * 3


def test_unbatched_input_and_dataset_map(tokenizer):
    preprocessor = BertPreprocessor(tokenizer, seq_length=12)
    texts = ["hello world", "a somewhat longer sentence to pack"]
    batched = preprocessor(tf.constant(texts))
    single = preprocessor(tf.constant(texts[0]))
    assert single["input_word_ids"].shape == (12,)
    np.testing.assert_array_equal(single["input_word_ids"], batched["input_word_ids"][0])
    dataset = tf.data.Dataset.from_tensor_slices(texts).map(preprocessor).batch(2)
    mapped = next(iter(dataset))
    for key in batched:
        np.testing.assert_array_equal(mapped[key], batched[key])
    pairs = tf.data.Dataset.from_tensor_slices((texts, texts[::-1])).batch(2)
    pairs = pairs.map(lambda a, b: preprocessor([a, b]))
    assert next(iter(pairs))["input_type_ids"].numpy().max() == 1


def test_fixed_signature_static_shape_and_saved_model(tokenizer, tmp_path):
    preprocessor = BertPreprocessor(tokenizer, seq_length=24)
    function = tf.function(preprocessor, input_signature=[tf.TensorSpec([None], tf.string)])
    concrete = function.get_concrete_function()
    for value in concrete.structured_outputs.values():
        assert value.shape.as_list() == [None, 24]
    module = tf.Module()
    module.preprocessor = preprocessor
    module.preprocess = function
    tf.saved_model.save(module, str(tmp_path / "pre"))
    loaded = tf.saved_model.load(str(tmp_path / "pre"))
    text = tf.constant(["Hello, how are you?", "I am doing well, thank you!"])
    restored = loaded.preprocess(text)
    for key, value in preprocessor(text).items():
        np.testing.assert_array_equal(restored[key], value)
    assert restored["input_word_ids"].shape == (2, 24)


def test_keras_config_keeps_seq_length(tokenizer):
    preprocessor = BertPreprocessor(tokenizer, seq_length=64, truncation="waterfall")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor)
    )
    assert (restored.seq_length, restored.truncation) == (64, "waterfall")
    assert restored.tokenizer.vocab_file == tokenizer.vocab_file
    assert restored(tf.constant(["x"]))["input_word_ids"].shape == (1, 64)


def test_seq_length_override_in_bert_pack_inputs(tokenizer):
    preprocessor = BertPreprocessor(tokenizer, seq_length=8)
    segment = tokenizer.tokenize(tf.constant(["one two three four five six seven eight nine"]))
    packed = preprocessor.bert_pack_inputs([segment], seq_length=tf.constant(16))
    assert packed["input_word_ids"].shape == (1, 16)
    assert packed["input_mask"].numpy().sum() == 11


def test_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="truncation='longest_first'"):
        BertPreprocessor(tokenizer, truncation="longest_first")
    with pytest.raises(ValueError, match="seq_length=1"):
        BertPreprocessor(tokenizer, seq_length=1)
    with pytest.raises(ValueError, match="seq_length=3 is too short for 3 segments"):
        BertPreprocessor(tokenizer, seq_length=3)([tf.constant(["a"])] * 3)
