"""Token-id parity with Hugging Face `BertTokenizerFast` on the same vocab."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
import transformers

from conftest import read_documents
from kerasbert.text import WordPieceTokenizer, basic_tokenization, build_vocab, word_piece_tokenizer

IMPLEMENTATIONS = ["fast", "classic"]

HARD_STRINGS = [
    "Café déjà vu, naïve façade — Ångström Øresund",
    "ΟΔΟΣ οδος Σίσυφος",  # per-character lower case: no final sigma
    "Straße İstanbul ǅemal ﬁne ﬀ",  # not case folding: ß stays, ﬁ stays
    "北京欢迎你 東京タワー 서울 특별시",
    "😀👍🏽 emoji🤖mixed ❤️",
    "ab\x00cd a\x0cb a\x0bb tab\tnew\nline\r\n a\u200bb \ufeffbom a\u0085b",
    "https://example.com/path?q=1&r=%20#frag user@mail.org",
    "$1,234.56 -3.5e10 12:30pm 1/2 50% #hashtag @handle",
    "x" * 101,
    "y" * 100,
    "é" * 101,
    "é" * 100,
    "Привет мир! Здравствуйте",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "hello [MASK] world [SEP]x[CLS] [mask] [UNK] [PAD]",
    "",
    "   ",
    "...!!!???",
    "a\ufffdb",
    "ａｂｃ１２３ ＡＢＣ",
    "Ⅻ ½ ² ℃ № ™",
    "a\u0378b a\ue000b",  # unassigned stays (-> [UNK]), private use goes
    "\u0301\u0301 x\u0301",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝",
    "don't can't I'm",
    "e\u0301 vs é",
    "\u3000full\u00a0width\u2003space",
    "<html><b>x</b></html>",
    "Mixed ελληνικά and English and 中文 in one",
    "a\u1fefb \u1fedx",  # normalization makes these "`": punctuation, split off
    "[CL\u200bS] x[SEP]y [SE\x01P] [[CLS]] [CLŚ] a\x00[MASK]\x00b",  # special only as written
    "\t\n\r a\x0b\x0cb \x85 \u2028\u2029z",  # which controls split, which vanish
    # Hugging Face's CJK ranges skip U+2B820-U+2B91F (Google's include them).
    "0\U0002B81F 0\U0002B820 0\U0002B91F 0\U0002B920 0\U0002CEAF",
]


def hf_ids(hf, texts):
    return hf(list(texts), add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def hf_uncased(minilm_vocab):
    return transformers.BertTokenizerFast(minilm_vocab)


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def tokenizer(request, minilm_vocab):
    return WordPieceTokenizer(minilm_vocab, implementation=request.param)


def test_identical_ids_on_every_bbc_article(tokenizer, hf_uncased, bbc_files):
    documents = read_documents(bbc_files)
    tokenize = tf.function(lambda x: tokenizer.tokenize(x, flat=True))
    ours = []
    for start in range(0, len(documents), 128):
        ours += tokenize(tf.constant(documents[start : start + 128])).to_list()
    expected = hf_ids(hf_uncased, documents)
    different = [f for f, a, b in zip(bbc_files, ours, expected) if a != b]
    assert different == []
    assert sum(map(len, ours)) > 1_000_000


def test_identical_ids_on_hard_strings(tokenizer, hf_uncased):
    ours = tokenizer.tokenize(tf.constant(HARD_STRINGS), flat=True).to_list()
    for text, a, b in zip(HARD_STRINGS, ours, hf_ids(hf_uncased, HARD_STRINGS)):
        assert a == b, text


def test_cased_vocabulary(tmp_path, bbc_files):
    vocab = str(tmp_path / "cased.txt")
    build_vocab(bbc_files[::4], 8000, lower_case=False, output_file=vocab, show_progress=False)
    hf = transformers.BertTokenizerFast(vocab, do_lower_case=False)
    texts = HARD_STRINGS + read_documents(bbc_files[1::50])
    expected = hf_ids(hf, texts)
    for implementation in IMPLEMENTATIONS:
        tokenizer = WordPieceTokenizer(vocab, lower_case=False, implementation=implementation)
        ours = tokenizer.tokenize(tf.constant(texts), flat=True).to_list()
        assert ours == expected
    # case is kept: "The" and "the" differ
    the, The = tokenizer.tokenize(tf.constant(["the", "The"]), flat=True).to_list()
    assert the != The


def test_ragged_shapes_and_unbatched_input(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["unaffable words", "x"]))
    assert ids.shape.rank == 3 and ids.dtype == tf.int32
    assert ids.row_lengths().numpy().tolist() == [2, 1]  # words per text
    single = tokenizer.tokenize(tf.constant("unaffable words"))
    assert single.to_list() == ids[0].to_list()
    assert tokenizer(tf.constant(["x"])).to_list() == [[[1060]]]


def test_special_tokens(tokenizer):
    assert tokenizer.special_tokens == {
        "padding_id": 0,
        "unknown_id": 100,
        "start_of_sequence_id": 101,
        "end_of_segment_id": 102,
        "mask_id": 103,
        "vocab_size": 30522,
    }


def test_offsets_point_into_the_input(tokenizer):
    text = "Héllo, unaffable\u00a0world! ab\x00cd"
    ids, starts, ends = tokenizer.tokenize_with_offsets(tf.constant([text]))
    data = text.encode()
    spans = [data[s:e].decode() for s, e in zip(starts.flat_values.numpy(), ends.flat_values.numpy())]
    pieces = [tokenizer.vocabulary[i] for i in ids.flat_values.numpy()]
    assert pieces[:2] == ["hello", ","]
    assert spans[:2] == ["Héllo", ","]  # accent stripped: the piece spans its word
    # an ASCII word is split into exact pieces
    unaffable = pieces.index("una")
    assert "".join(spans[unaffable : unaffable + 3]) == "unaffable"
    assert len(spans[unaffable]) < len("unaffable")
    # a dropped NUL changes the length: both pieces span "ab\0cd"
    assert pieces[-2:] == ["abc", "##d"] and spans[-2:] == ["ab\x00cd"] * 2


def test_detokenize_matches_hugging_face_decode(tokenizer, hf_uncased):
    texts = ["Hello, world! I'm here.", "don't stop unaffable things?", "北京 [MASK] x"]
    ids = tokenizer.tokenize(tf.constant(texts), flat=True)
    ours = [s.decode() for s in tokenizer.detokenize(ids).numpy()]
    assert ours == [hf_uncased.decode(i) for i in ids.to_list()]
    padded = [[101, 7592, 102, 0, 0]]
    assert tokenizer.detokenize(padded).numpy()[0].decode() == hf_uncased.decode(padded[0])


def test_invalid_utf8_is_replaced_and_counted(tokenizer, hf_uncased):
    raw = [b"caf\xe9 au lait", b"\xff\xfe ok \xc3", b"clean"]
    assert tokenizer.count_invalid_utf8(tf.constant(raw)).numpy().tolist() == [1, 3, 0]
    ours = tokenizer.tokenize(tf.constant(raw), flat=True).to_list()
    decoded = [r.decode("utf-8", errors="replace") for r in raw]
    assert ours == hf_ids(hf_uncased, decoded)


def test_config_round_trip(tokenizer):
    clone = WordPieceTokenizer.from_config(tokenizer.get_config())
    assert clone.implementation == tokenizer.implementation
    text = tf.constant(HARD_STRINGS[:3])
    assert clone.tokenize(text).to_list() == tokenizer.tokenize(text).to_list()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    assert isinstance(restored, WordPieceTokenizer)


def test_saved_model_tokenizes_the_same(tokenizer, tmp_path):
    module = tf.Module()
    module.tokenizer = tokenizer
    module.tokenize = tf.function(
        lambda text: tokenizer.tokenize(text, flat=True).to_tensor(),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    tf.saved_model.save(module, str(tmp_path / "tok"))
    loaded = tf.saved_model.load(str(tmp_path / "tok"))
    text = tf.constant(HARD_STRINGS[:5])
    np.testing.assert_array_equal(
        loaded.tokenize(text), tokenizer.tokenize(text, flat=True).to_tensor()
    )


def test_large_batch_cut_into_parts_gives_the_ids_of_the_whole(tokenizer, bbc_files, monkeypatch):
    # Enough text to be cut into parts (one per core, at least 2 here).
    monkeypatch.setattr(word_piece_tokenizer, "usable_cores", lambda: 2)
    texts = read_documents(bbc_files[::45]) + HARD_STRINGS
    assert sum(len(t.encode()) for t in texts) > 2 * word_piece_tokenizer.MIN_SHARDED_BYTES
    parts = tf.function(tokenizer.tokenize)(tf.constant(texts))
    whole = tokenizer.tokenize(tf.constant(texts))  # eager: never cut
    assert parts.shape[0] == len(texts)
    np.testing.assert_array_equal(parts.row_splits, whole.row_splits)
    np.testing.assert_array_equal(parts.flat_values, whole.flat_values)


@pytest.mark.parametrize(
    "text",
    [
        tf.constant("a b, c"),
        tf.constant(["a b", "", "x,y [SEP]z"]),
        tf.constant([["a b", "c"], ["d e f", ""]]),
        tf.ragged.constant([["a b", "c"], ["d e, f"]], row_splits_dtype=tf.int32),
    ],
    ids=["scalar", "batch", "matrix", "ragged"],
)
def test_regex_split_gives_tf_text_results(text):
    patterns = basic_tokenization.DELIMITERS, basic_tokenization.KEPT_DELIMITERS
    ours = basic_tokenization.regex_split_with_offsets(text, *patterns)
    reference = tf_text.regex_split_with_offsets(text, *patterns)
    for mine, theirs in zip(ours, reference):
        assert mine.shape.as_list() == theirs.shape.as_list()
        assert mine.row_splits.dtype == theirs.row_splits.dtype
        assert mine.to_list() == theirs.to_list()
    if ours[0].ragged_rank >= 2:
        merged = basic_tokenization.merge_last_two_dims(ours[0])
        assert merged.to_list() == ours[0].merge_dims(-2, -1).to_list()


def test_graphs_hold_no_validation_asserts(tokenizer):
    """Each assert on ragged row splits is a `tf.cond` in a graph; 72 of them
    made tracing the tokenizer take 2.3 s instead of 0.2 s (the offsets graph:
    128, 8.7 s)."""
    for method in (
        lambda text: tokenizer.tokenize(text, flat=True),
        tokenizer.tokenize,
        tokenizer.tokenize_with_offsets,
    ):
        graph = tf.function(method).get_concrete_function(tf.TensorSpec([None], tf.string)).graph
        definition = graph.as_graph_def()
        nodes = list(definition.node) + [n for f in definition.library.function for n in f.node_def]
        assert [n.name for n in nodes if n.op == "Assert"] == []
        assert any(n.op == "RegexSplitWithOffsets" for n in nodes)


def test_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: vocabulary file not found"):
        WordPieceTokenizer(str(tmp_path / "nope.txt"))


def test_vocab_without_special_tokens(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\nthe\n##s\n")
    with pytest.raises(ValueError, match=r"vocab.txt: vocabulary lacks special tokens \['\[SEP\]', '\[MASK\]'\]"):
        WordPieceTokenizer(str(path))
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nthe\n")
    with pytest.raises(ValueError, match="'the' on line 7 repeats line 6"):
        WordPieceTokenizer(str(path))


def test_unknown_implementation(minilm_vocab):
    with pytest.raises(ValueError, match="implementation='turbo'"):
        WordPieceTokenizer(minilm_vocab, implementation="turbo")
