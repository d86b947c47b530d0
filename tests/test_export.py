"""Exports: TF Hub modules and the TF Serving bundle, checked against the
source model, through their consumers, and through the TensorFlow C API."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops the text modules use)

from c_api_runner import build_runner, graph_op_types, run_signature
from kerasbert import BertConfig, BertEncoder, BertPretrainer
from kerasbert.export import export_encoder, export_model_dir, export_serving, read_warmup_requests
from kerasbert.io_utils import remove_tree
from kerasbert.model_dir import load_pretrainer
from kerasbert.text import BertPreprocessor, WordPieceTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ = 128
TEXTS = [
    "Hello, how are you?",
    "I am doing well, thank you!",
    "The BBC's coverage of the £3bn deal: naïve résumé — 東京 ok.",
]
# The ops of tf.text's classic BertTokenizer (the ones TF Serving builds link).
CLASSIC_TEXT_OPS = {"CaseFoldUTF8", "NormalizeUTF8", "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets"}
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, minilm_vocab):
    """A model directory as `pretrain` writes it: config, vocab, checkpoint."""
    path = tmp_path_factory.mktemp("model_dir")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=SEQ,
    )
    config.to_json_file(path / "config.json")
    shutil.copyfile(minilm_vocab, path / "vocab.txt")
    pretrainer = BertPretrainer(BertEncoder(config))
    # Non-trivial biases and norms, so that a lost weight cannot pass.
    for weight in pretrainer.weights:
        weight.assign(weight + np.random.RandomState(1).normal(0, 0.02, weight.shape))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=pretrainer), str(path), 1).save()
    return path


@pytest.fixture(scope="module")
def exports(model_dir, tmp_path_factory):
    export_dir = tmp_path_factory.mktemp("exports")
    written = export_model_dir(model_dir, export_dir, seq_length=SEQ)
    return {kind: str(path) for kind, path in written.items()}


@pytest.fixture(scope="module")
def source(model_dir):
    pretrainer, vocab_file = load_pretrainer(model_dir)
    tokenizer = WordPieceTokenizer(vocab_file)
    return pretrainer, BertPreprocessor(tokenizer, seq_length=SEQ)


def test_model_dir_restores_every_weight(model_dir, source):
    pretrainer, _ = source
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    saved = [reader.get_tensor(name) for name, _ in tf.train.list_variables(str(model_dir))
             if name.endswith("VARIABLE_VALUE") and "save_counter" not in name]
    assert len(saved) == len(pretrainer.weights) == 38
    for weight in pretrainer.weights:
        assert any(s.shape == weight.shape and np.array_equal(s, weight) for s in saved), weight.path


def test_encoder_module_round_trip(exports, source):
    pretrainer, preprocessor = source
    inputs = preprocessor(tf.constant(TEXTS))
    expected = pretrainer.encoder(inputs)
    module = tf.saved_model.load(exports["encoder"])
    outputs = module(inputs, training=False)
    for name in ("pooled_output", "sequence_output", "default"):
        assert max_diff(outputs[name], expected[name]) <= 1e-5, name
    np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
    assert len(outputs["encoder_outputs"]) == 2
    for got, want in zip(outputs["encoder_outputs"], expected["encoder_outputs"]):
        assert max_diff(got, want) <= 1e-5
    signature = module.signatures["serving_default"](**inputs)
    assert max_diff(signature["pooled_output"], expected["pooled_output"]) <= 1e-5
    # TF Hub's interface: variables to fine-tune, the vocabulary as an asset.
    assert len(module.trainable_variables) == len(pretrainer.encoder.trainable_weights)
    assert module.regularization_losses == []
    vocab_path = module.vocab_file.asset_path.numpy().decode()
    assert vocab_path.startswith(exports["encoder"])
    assert bool(module.do_lower_case.numpy())


def test_encoder_module_dropout_acts_only_in_training(exports, source):
    _, preprocessor = source
    inputs = preprocessor(tf.constant(TEXTS))
    module = tf.saved_model.load(exports["encoder"])
    training = np.stack([module(inputs, training=True)["pooled_output"] for _ in range(20)])
    inference = np.stack([module(inputs, training=False)["pooled_output"] for _ in range(20)])
    assert training.std(axis=0).mean() > 1e-3
    assert inference.std(axis=0).max() < 1e-6  # float round-off of threaded kernels only


def test_encoder_with_mlm_module(exports, source):
    pretrainer, preprocessor = source
    inputs = dict(preprocessor(tf.constant(TEXTS)))
    inputs["masked_lm_positions"] = tf.constant([[1, 2, 3]] * len(TEXTS), tf.int32)
    expected = pretrainer(inputs)["mlm_logits"]
    module = tf.saved_model.load(exports["encoder_with_mlm"])
    outputs = module.mlm(inputs, training=False)
    assert outputs["mlm_logits"].shape == (len(TEXTS), 3, 30522)
    assert max_diff(outputs["mlm_logits"], expected) <= 1e-5
    assert max_diff(module(preprocessor(tf.constant(TEXTS)))["pooled_output"],
                    pretrainer.encoder(preprocessor(tf.constant(TEXTS)))["pooled_output"]) <= 1e-5
    assert not hasattr(tf.saved_model.load(exports["encoder"]), "mlm")


def test_static_seq_length_survives_shape_inference(exports):
    preprocessor = tf.saved_model.load(exports["preprocessor"])
    encoder = tf.saved_model.load(exports["encoder"])
    text_encoder = tf.saved_model.load(exports["text_encoder"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def pipeline(text):
        inputs = preprocessor(text)
        for name in ENCODER_INPUTS:
            assert inputs[name].shape.as_list() == [None, SEQ], inputs[name].shape
        sequence = encoder(inputs)["sequence_output"]
        assert sequence.shape.as_list() == [None, SEQ, 32], sequence.shape
        direct = text_encoder(text)["sequence_output"]
        assert direct.shape.as_list() == [None, SEQ, 32], direct.shape
        return sequence

    assert pipeline(tf.constant(TEXTS)).shape == (len(TEXTS), SEQ, 32)


def test_preprocessor_module(exports, source, minilm_vocab):
    from transformers import BertTokenizerFast

    _, preprocessor = source
    module = tf.saved_model.load(exports["preprocessor"])
    outputs = module(tf.constant(TEXTS))
    assert outputs["input_word_ids"].shape == (len(TEXTS), SEQ)
    expected = preprocessor(tf.constant(TEXTS))
    for name in ENCODER_INPUTS:
        np.testing.assert_array_equal(outputs[name], expected[name])
    reference = BertTokenizerFast(minilm_vocab)(TEXTS[0], TEXTS[1])["input_ids"]

    tokens = module.tokenize(tf.constant(TEXTS))
    assert tokens.shape.rank == 3 and tokens.dtype == tf.int32  # [batch, words, pieces]
    special = {k: int(v) for k, v in module.tokenize.get_special_tokens_dict().items()}
    assert special == {
        "padding_id": 0, "start_of_sequence_id": 101, "end_of_segment_id": 102,
        "mask_id": 103, "vocab_size": 30522,
    }
    pair = module.bert_pack_inputs([tokens[:2], tokens[1:]], seq_length=tf.constant(256))
    assert pair["input_word_ids"].shape == (2, 256)
    ids = pair["input_word_ids"][0].numpy()
    np.testing.assert_array_equal(ids[: len(reference)], reference)
    assert not ids[len(reference):].any()
    types = pair["input_type_ids"][0].numpy()
    assert types[: len(reference)].tolist() == BertTokenizerFast(minilm_vocab)(
        TEXTS[0], TEXTS[1])["token_type_ids"]
    single = module.bert_pack_inputs([tokens])
    np.testing.assert_array_equal(single["input_word_ids"], outputs["input_word_ids"])


def test_preprocessor_vocabulary_travels(tmp_path, minilm_vocab):
    from kerasbert.export import export_preprocessor

    vocab = tmp_path / "a-distinctive-vocab-name.txt"
    shutil.copyfile(minilm_vocab, vocab)
    first = export_preprocessor(vocab, tmp_path / "first")
    os.remove(vocab)
    saved = open(os.path.join(first, "saved_model.pb"), "rb").read()
    assert str(tmp_path).encode() not in saved
    expected = tf.saved_model.load(first)(tf.constant(TEXTS))["input_word_ids"]

    tf.saved_model.save(tf.saved_model.load(first), str(tmp_path / "second"))
    shutil.rmtree(first)
    again = tf.saved_model.load(str(tmp_path / "second"))
    np.testing.assert_array_equal(again(tf.constant(TEXTS))["input_word_ids"], expected)


def test_text_encoder_module(exports, source):
    pretrainer, preprocessor = source
    module = tf.saved_model.load(exports["text_encoder"])
    pooled = module(tf.constant(["Hello, how are you?", "I am doing well, thank you!"]))[
        "pooled_output"
    ]
    expected = pretrainer.encoder(preprocessor(tf.constant(TEXTS[:2])))["pooled_output"]
    assert pooled.shape == (2, 32)
    assert max_diff(pooled, expected) <= 1e-5
    signature = module.signatures["serving_default"](text=tf.constant(TEXTS[:2]))
    assert max_diff(signature["pooled_output"], expected) <= 1e-5
    assert len(module.trainable_variables) == len(pretrainer.encoder.trainable_weights)


def test_serving_bundle_signatures(exports, source):
    pretrainer, preprocessor = source
    bundle = tf.saved_model.load(exports["serving"])
    assert exports["serving"].endswith(os.path.join("serving", "1"))
    assert set(bundle.signatures) == {"serving_default", "text_pair", "ids"}
    inputs = preprocessor(tf.constant(TEXTS))
    expected = pretrainer.encoder(inputs)
    outputs = bundle.signatures["serving_default"](text=tf.constant(TEXTS))
    assert set(outputs) == {"pooled_output", "sequence_output", "truncated_tokens"}
    assert max_diff(outputs["pooled_output"], expected["pooled_output"]) <= 1e-5
    # The batch is served at the length of its longest text, padding cut.
    longest = int(tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1)))
    assert longest < SEQ
    assert outputs["sequence_output"].shape[1] == longest
    assert max_diff(outputs["sequence_output"], expected["sequence_output"][:, :longest]) <= 1e-5
    assert outputs["truncated_tokens"].numpy().tolist() == [0, 0, 0]
    by_ids = bundle.signatures["ids"](**inputs)
    assert max_diff(by_ids["pooled_output"], expected["pooled_output"]) <= 1e-5

    pair = preprocessor([tf.constant(TEXTS[:2]), tf.constant(TEXTS[1:])])
    outputs = bundle.signatures["text_pair"](text=tf.constant(TEXTS[:2]), text_b=tf.constant(TEXTS[1:]))
    assert max_diff(outputs["pooled_output"], pretrainer.encoder(pair)["pooled_output"]) <= 1e-5


def test_serving_bundle_under_xla(source, minilm_vocab, tmp_path):
    pretrainer, preprocessor = source
    target = export_serving(pretrainer.encoder, minilm_vocab, str(tmp_path), jit_compile=True)
    signatures = tf.saved_model.load(target).signatures
    graph = signatures["serving_default"].graph.as_graph_def()
    compiled = [f.signature.name for f in graph.library.function if f.attr["_XlaMustCompile"].b]
    assert compiled, "no function of the bundle is marked for XLA"
    inputs = preprocessor(tf.constant(TEXTS))
    expected = pretrainer.encoder(inputs)
    longest = int(tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1)))
    single = signatures["serving_default"](text=tf.constant(TEXTS[:1]))
    assert max_diff(single["pooled_output"], expected["pooled_output"][:1]) <= 1e-5
    outputs = signatures["serving_default"](text=tf.constant(TEXTS))
    assert max_diff(outputs["pooled_output"], expected["pooled_output"]) <= 1e-5
    # Lengths rounded up to a bucket: few shapes, so few XLA programs.
    length = outputs["sequence_output"].shape[1]
    assert length % 16 == 0 and longest <= length < longest + 16
    served = outputs["sequence_output"][:, :longest]
    assert max_diff(served, expected["sequence_output"][:, :longest]) <= 1e-5
    by_ids = signatures["ids"](**inputs)
    assert max_diff(by_ids["pooled_output"], expected["pooled_output"]) <= 1e-5


def test_serving_bundle_takes_any_text(exports, bbc_files):
    bundle = tf.saved_model.load(exports["serving"]).signatures["serving_default"]
    long_text = ("word " * 2000)[:10_000]
    outputs = bundle(text=tf.constant(["", long_text, " ", "\x00\ufffd"]))
    assert outputs["pooled_output"].shape == (4, 32)
    assert outputs["sequence_output"].shape == (4, SEQ, 32)  # the long text fills seq_length
    truncated = outputs["truncated_tokens"].numpy()
    assert truncated[0] == 0 and truncated[1] == 2000 - (SEQ - 2)
    sentences = [open(f, encoding="utf-8", errors="replace").read()[:300] for f in bbc_files[:256]]
    outputs = bundle(text=tf.constant(sentences))
    assert outputs["sequence_output"].shape[0::2] == (256, 32)
    assert outputs["sequence_output"].shape[1] <= SEQ
    assert np.isfinite(outputs["pooled_output"].numpy()).all()


def test_serving_graph_uses_only_core_and_classic_tokenizer_ops(exports):
    ops = graph_op_types(exports["serving"])
    assert "WordpieceTokenizeWithOffsets" in ops
    outside_core = ops - set(dir(tf.raw_ops))
    assert outside_core <= CLASSIC_TEXT_OPS, outside_core - CLASSIC_TEXT_OPS


def test_serving_bundle_runs_through_the_c_api(exports, tmp_path_factory):
    runner = build_runner(tmp_path_factory.mktemp("c_api"))
    texts = TEXTS + ["", "x" * 3000]
    outputs = run_signature(runner, exports["serving"], {"text": texts})
    expected = tf.saved_model.load(exports["serving"]).signatures["serving_default"](
        text=tf.constant(texts)
    )
    assert set(outputs) == set(expected)
    for name in expected:
        assert max_diff(outputs[name], expected[name]) <= 1e-6, name


def test_modules_load_in_a_process_without_kerasbert(exports, source):
    pretrainer, preprocessor = source
    expected = pretrainer.encoder(preprocessor(tf.constant(TEXTS)))["pooled_output"].numpy()
    script = textwrap.dedent(
        """
        import sys, numpy as np, tensorflow as tf
        texts = tf.constant(sys.argv[1].split("|"))
        encoder = tf.saved_model.load(sys.argv[2])
        ids = {"input_word_ids": tf.constant([[101, 7592, 102]]),
               "input_mask": tf.constant([[1, 1, 1]]), "input_type_ids": tf.constant([[0, 0, 0]])}
        encoder(ids)
        import tensorflow_text  # the text modules need its ops
        preprocessor = tf.saved_model.load(sys.argv[3])
        pooled = encoder(preprocessor(texts))["pooled_output"]
        direct = tf.saved_model.load(sys.argv[4])(texts)["pooled_output"]
        served = tf.saved_model.load(sys.argv[5]).signatures["serving_default"](text=texts)
        assert not any(m.startswith("kerasbert") for m in sys.modules)
        np.save(sys.argv[6], np.stack([pooled, direct, served["pooled_output"]]))
        """
    )
    out = os.path.join(os.path.dirname(exports["encoder"]), "fresh.npy")
    subprocess.run(
        [sys.executable, "-c", script, "|".join(TEXTS), exports["encoder"],
         exports["preprocessor"], exports["text_encoder"], exports["serving"], out],
        check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300,
    )
    for pooled in np.load(out):
        assert max_diff(pooled, expected) <= 1e-5


def test_tf_hub_keras_layer_fine_tunes_the_encoder(exports):
    script = textwrap.dedent(
        """
        import sys, numpy as np, tensorflow as tf, tensorflow_hub as hub, tf_keras
        layer = hub.KerasLayer(sys.argv[1], trainable=True)
        inputs = {n: tf_keras.Input(shape=(16,), dtype=tf.int32, name=n)
                  for n in ("input_word_ids", "input_mask", "input_type_ids")}
        logits = tf_keras.layers.Dense(2)(layer(inputs)["pooled_output"])
        model = tf_keras.Model(inputs, logits)
        model.compile(tf_keras.optimizers.Adam(1e-3),
                      tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.RandomState(0)
        x = {"input_word_ids": rng.randint(1000, 2000, (16, 16)).astype("int32"),
             "input_mask": np.ones((16, 16), "int32"), "input_type_ids": np.zeros((16, 16), "int32")}
        y = (x["input_word_ids"][:, 1] > 1500).astype("int32")
        before = [v.numpy() for v in layer.trainable_weights]
        assert len(before) == 31, len(before)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before, layer.trainable_weights))
        print("CHANGED", changed, len(before))
        assert changed == len(before)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, exports["encoder"]], capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CHANGED 31 31" in result.stdout


def test_export_refuses_existing_targets(model_dir, exports, tmp_path):
    with pytest.raises(FileExistsError, match=os.path.join("serving", "1")):
        export_model_dir(model_dir, os.path.dirname(exports["serving"]), export_type="serving")
    pretrainer, vocab_file = load_pretrainer(model_dir)
    export_serving(pretrainer.encoder, vocab_file, tmp_path / "bundle", version=3)
    with pytest.raises(FileExistsError, match="bundle/3"):
        export_serving(pretrainer.encoder, vocab_file, tmp_path / "bundle", version=3)
    export_serving(pretrainer.encoder, vocab_file, tmp_path / "bundle", version=3, overwrite=True)
    assert os.listdir(tmp_path / "bundle") == ["3"]


def test_export_rejects_mismatched_checkpoint_and_vocabulary(model_dir, tmp_path):
    wrong = BertConfig.from_json_file(model_dir / "config.json").replace(intermediate_size=40)
    with pytest.raises(ValueError, match="does not fit the config"):
        load_pretrainer(model_dir, config=wrong)
    deeper = BertConfig.from_json_file(model_dir / "config.json").replace(num_hidden_layers=3)
    with pytest.raises(ValueError, match="does not fit the config"):
        load_pretrainer(model_dir, config=deeper)
    small_vocab = tmp_path / "vocab.txt"
    pieces = open(model_dir / "vocab.txt", encoding="utf-8").read().split("\n")[:1000]
    small_vocab.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1000 pieces but the config's vocab_size is 30522"):
        export_model_dir(model_dir, tmp_path / "out", vocab_file=small_vocab)
    encoder = BertEncoder(BertConfig.from_json_file(model_dir / "config.json"))
    with pytest.raises(ValueError, match="1000 pieces but the encoder's vocab_size is 30522"):
        export_encoder(encoder, small_vocab, tmp_path / "enc")
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "enc")


def test_export_killed_midway_leaves_no_target(model_dir, tmp_path):
    target = tmp_path / "encoder"
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train", "export.py"), f"--model_dir={model_dir}",
         "--export_type=encoder", f"--export_dir={target}"],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    deadline = time.time() + 240
    while not any(name.startswith(".encoder.tmp-") for name in os.listdir(tmp_path)):
        assert process.poll() is None, "export ended before it started writing"
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    # Started again, it writes the whole module.
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "export.py"), f"--model_dir={model_dir}",
         "--export_type=encoder", f"--export_dir={target}"],
        check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300,
    )
    inputs = {"input_word_ids": [[101, 102]], "input_mask": [[1, 1]], "input_type_ids": [[0, 0]]}
    outputs = tf.saved_model.load(str(target))({k: tf.constant(v) for k, v in inputs.items()})
    assert outputs["pooled_output"].shape == (1, 32)


def test_export_program_writes_the_warmup_batch_sizes_asked_for(model_dir, tmp_path):
    def export(*flags):
        return subprocess.run(
            [sys.executable, os.path.join(ROOT, "train", "export.py"), f"--model_dir={model_dir}",
             "--export_type=serving", f"--export_dir={tmp_path / 'bundle'}", *flags],
            capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )

    refused = export("--serving_warmup_batch_sizes=1,x")
    assert refused.returncode == 1
    assert "export: --serving_warmup_batch_sizes=1,x: not a list of integers" in refused.stderr
    done = export("--serving_jit_compile", "--serving_warmup_batch_sizes=2")
    assert done.returncode == 0, done.stderr[-3000:]
    requests = read_warmup_requests(tmp_path / "bundle" / "1")
    assert {len(next(iter(inputs.values()))) for _, inputs in requests} == {2}
    assert len(requests) == 2 * 8 + 1  # two text signatures at 8 length buckets, and ids


def test_kerasbert_hub_keras_layer_fine_tunes_the_encoder(exports):
    import keras

    from kerasbert.hub import KerasLayer

    layer = KerasLayer(exports["encoder"], trainable=True)
    inputs = {n: keras.Input(shape=(16,), dtype="int32", name=n) for n in ENCODER_INPUTS}
    logits = keras.layers.Dense(2)(layer(inputs)["pooled_output"])
    model = keras.Model(inputs, logits)
    model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(True))
    rng = np.random.RandomState(0)
    x = {
        "input_word_ids": rng.randint(1000, 2000, (16, 16)).astype("int32"),
        "input_mask": np.ones((16, 16), "int32"),
        "input_type_ids": np.zeros((16, 16), "int32"),
    }
    y = (x["input_word_ids"][:, 1] > 1500).astype("int32")
    before = [w.numpy() for w in layer.trainable_weights]
    assert len(before) == 31
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, layer.trainable_weights))


MIRRORED_FINE_TUNING = """
import sys, numpy as np, tensorflow as tf, keras
from kerasbert.training import split_cpu
split_cpu(2)
from kerasbert.hub import KerasLayer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
names = ("input_word_ids", "input_mask", "input_type_ids")
with strategy.scope():
    layer = KerasLayer(sys.argv[1], trainable=True)
    inputs = {n: keras.Input(shape=(16,), dtype="int32", name=n) for n in names}
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)["pooled_output"]))
    model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(True))
rng = np.random.RandomState(0)
x = {"input_word_ids": rng.randint(1000, 2000, (16, 16)).astype("int32"),
     "input_mask": np.ones((16, 16), "int32"), "input_type_ids": np.zeros((16, 16), "int32")}
y = (x["input_word_ids"][:, 1] > 1500).astype("int32")
before = [w.numpy() for w in layer.trainable_weights]
model.fit(x, y, epochs=2, batch_size=8, verbose=0)
after = [w.numpy() for w in layer.trainable_weights]
replicas = layer.trainable_weights[0].value.values
assert type(layer.trainable_weights[0].value).__name__ == "MirroredVariable"
assert all(not np.array_equal(b, a) for b, a in zip(before, after))
assert np.array_equal(replicas[0].numpy(), replicas[1].numpy())
print("MIRRORED OK")
"""


def test_kerasbert_hub_keras_layer_under_mirrored_strategy(exports):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_FINE_TUNING, exports["encoder"]],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MIRRORED OK" in result.stdout


def test_export_failing_midway_keeps_the_previous_export(model_dir, exports, tmp_path):
    """A file-size limit (as a full disk) makes the variables file fail to
    write: the program exits 1 naming the path and the cause, and the export
    already there is untouched and loads."""
    import resource

    target = tmp_path / "encoder"
    shutil.copytree(exports["encoder"], target)
    before = {p: open(os.path.join(target, p), "rb").read() for p in ("saved_model.pb", "variables/variables.index")}
    limit = os.path.getsize(target / "variables" / "variables.data-00000-of-00001") // 2

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "export.py"), f"--model_dir={model_dir}",
         "--export_type=encoder", f"--export_dir={target}", "--overwrite"],
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"export: could not write the export {target} (the previous export there is intact)" in done.stderr
    assert "File too large" in done.stderr
    for path, content in before.items():
        assert open(os.path.join(target, path), "rb").read() == content
    assert os.listdir(tmp_path) == ["encoder"]  # no temporary directory left
    inputs = {"input_word_ids": [[101, 102]], "input_mask": [[1, 1]], "input_type_ids": [[0, 0]]}
    outputs = tf.saved_model.load(str(target))({k: tf.constant(v) for k, v in inputs.items()})
    assert outputs["pooled_output"].shape == (1, 32)


def test_exports_on_tensorflows_filesystems(model_dir, source):
    """Exports written to gs:// (TensorFlow's in-memory ram:// here) load
    from there, as TF Hub modules and for fine-tuning, and match the model."""
    from kerasbert.model_dir import load_encoder

    pretrainer, preprocessor = source
    inputs = preprocessor(tf.constant(TEXTS))
    expected = pretrainer.encoder(inputs)
    remote = "ram://exports/run"
    try:
        written = export_model_dir(model_dir, remote, export_type="encoder")
        assert written == {"encoder": remote}
        assert sorted(tf.io.gfile.listdir("ram://exports")) == ["run"]
        outputs = tf.saved_model.load(remote)(inputs, training=False)
        assert max_diff(outputs["sequence_output"], expected["sequence_output"]) <= 1e-5
        encoder, vocab_file, lower_case = load_encoder(remote)
        assert vocab_file == f"{remote}/assets/vocab.txt" and lower_case
        remote_inputs = BertPreprocessor(WordPieceTokenizer(vocab_file), seq_length=SEQ)(tf.constant(TEXTS))
        np.testing.assert_array_equal(remote_inputs["input_word_ids"], inputs["input_word_ids"])
        assert max_diff(encoder(inputs)["pooled_output"], expected["pooled_output"]) <= 1e-5
        with pytest.raises(FileExistsError, match="ram://exports/run already exists"):
            export_model_dir(model_dir, remote, export_type="encoder")
        bundle = export_serving(pretrainer.encoder, str(model_dir / "vocab.txt"), "ram://exports/bundle", version=2)
        assert bundle == "ram://exports/bundle/2"
        served = tf.saved_model.load(bundle).signatures["serving_default"](text=tf.constant(TEXTS))
        assert max_diff(served["pooled_output"], expected["pooled_output"]) <= 1e-5
        assert {len(next(iter(inputs.values()))) for _, inputs in read_warmup_requests(bundle)} == {1, 8}
    finally:
        remove_tree("ram://exports")
