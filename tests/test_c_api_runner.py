"""Self-test of the TF C API runner (`tests/c_api_runner.py`).

A tiny SavedModel with the classic `tf_text.BertTokenizer`, a variable and two
signatures must give, through the C API, exactly what Python's
`tf.saved_model.load(...).signatures[...]` gives.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from c_api_runner import (
    RunnerError,
    build_runner,
    graph_op_types,
    read_tensor_file,
    run_signature,
    signature_tensor_names,
    write_tensor_file,
)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", ",", "!", "un", "##aff", "##able",
         "naive", "cafe", "東", "京", "a", "b", "nul", "line", "##1", "##2"]  # fmt: skip

# Non-ASCII (accents are stripped by lower_case, CJK split per character),
# embedded NULs, a newline, an empty string, whitespace only, and a word
# out of the vocabulary; str and bytes alike.
TEXTS = ["Hello, World!", "unaffable naïve Café 東京", "a\x00b nul", "", "line1\nline2",
         b"hello\x00world", "   ", "zzz"]  # fmt: skip


class TinyBundle(tf.Module):
    def __init__(self, vocab_file):
        super().__init__()
        # A vocab path makes tf.text build its own StaticVocabularyTable (one OOV
        # bucket) whose file is saved as an asset of the bundle.
        self.tokenizer = tf_text.BertTokenizer(vocab_file, lower_case=True)
        rows = len(VOCAB) + 1  # + the OOV bucket
        values = np.linspace(-1.0, 1.3, rows * 3).reshape(rows, 3)
        self.embedding = tf.Variable(values, dtype=tf.float32)

    def _scores(self, ids):
        return tf.reduce_sum(tf.gather(self.embedding, ids), axis=1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve_text(self, text):
        ids = self.tokenizer.tokenize(text).merge_dims(1, 2)  # [batch, (tokens)] int64
        return {
            "token_ids": tf.cast(ids.to_tensor(), tf.int32),
            "scores": self._scores(ids),
            "lengths": ids.row_lengths(),
            "echo": tf.strings.join(["<", text, ">"]),
        }

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="ids")])
    def serve_ids(self, ids):
        return {"scores": self._scores(ids), "count": tf.math.count_nonzero(ids, axis=1)}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return build_runner(tmp_path_factory.mktemp("c_api_build"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    vocab_file = tmp / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    module = TinyBundle(str(vocab_file))
    export_dir = str(tmp / "saved_model")
    signatures = {
        "serving_default": module.serve_text.get_concrete_function(),
        "ids_to_scores": module.serve_ids.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    os.remove(vocab_file)  # the runner must use the bundle's asset copy
    return export_dir


def _as_bytes(texts):
    return [t.encode("utf-8") if isinstance(t, str) else t for t in texts]


def _assert_same(c_outputs, py_outputs):
    assert set(c_outputs) == set(py_outputs)
    for name, expected in py_outputs.items():
        expected = expected.numpy()
        assert c_outputs[name].dtype == expected.dtype, name
        assert c_outputs[name].shape == expected.shape, name
        np.testing.assert_array_equal(c_outputs[name], expected, err_msg=name)


def test_signature_tensor_names(bundle):
    inputs, outputs = signature_tensor_names(bundle)
    assert inputs["text"].name == "serving_default_text:0"
    assert inputs["text"].dtype == tf.string and inputs["text"].shape == (-1,)
    dtypes = {"token_ids": tf.int32, "scores": tf.float32, "lengths": tf.int64, "echo": tf.string}
    assert {name: info.dtype for name, info in outputs.items()} == dtypes
    inputs, _ = signature_tensor_names(bundle, "ids_to_scores")
    assert inputs["ids"].dtype == tf.int32 and inputs["ids"].shape == (-1, -1)


def test_text_signature_matches_python(runner, bundle):
    c_outputs = run_signature(runner, bundle, {"text": TEXTS})
    py_outputs = tf.saved_model.load(bundle).signatures["serving_default"](
        text=tf.constant(_as_bytes(TEXTS))
    )
    _assert_same(c_outputs, py_outputs)
    # The bytes really went through: NULs, newline, UTF-8 and the empty string.
    assert list(c_outputs["echo"]) == [b"<" + t + b">" for t in _as_bytes(TEXTS)]
    # And the tokenizer really ran: "Hello, World!" -> hello , world !
    assert list(c_outputs["token_ids"][0][:4]) == [4, 6, 5, 7]
    assert c_outputs["lengths"][3] == 0  # the empty string


def test_int_signature_matches_python(runner, bundle):
    ids = np.array([[4, 5, 0], [21, 1, 2], [0, 0, 0]], dtype=np.int32)
    c_outputs = run_signature(runner, bundle, {"ids": ids}, signature_key="ids_to_scores")
    py_outputs = tf.saved_model.load(bundle).signatures["ids_to_scores"](ids=tf.constant(ids))
    _assert_same(c_outputs, py_outputs)


def test_graph_op_types(bundle):
    ops = graph_op_types(bundle)
    assert {"WordpieceTokenizeWithOffsets", "NormalizeUTF8", "RegexSplitWithOffsets"} <= ops
    assert not any(op.startswith("__inference") for op in ops)  # calls, not ops


def test_missing_op_library_fails_clearly(runner, bundle):
    with pytest.raises(RunnerError) as error:
        run_signature(runner, bundle, {"text": ["hello"]}, op_libraries=())
    assert error.value.returncode == 1
    assert "run_signature: loading SavedModel" in error.value.stderr
    assert "Op type not registered" in error.value.stderr


def test_tensor_file_round_trip(tmp_path):
    path = str(tmp_path / "t.tft")
    arrays = [
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.ones((0, 4), np.float32),
        np.array(7, np.int32),
        np.array([True, False]),
        np.array([[b"x\x00", b""], [b"\n", "é".encode()]], dtype=object),
    ]
    for array in arrays:
        write_tensor_file(path, array)
        back = read_tensor_file(path)
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
