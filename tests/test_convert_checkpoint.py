"""Every weight format in and out (`load_any` / `save_any`), and the
`convert_checkpoint` program from a clean process."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, make_inputs
from kerasbert import BertConfig, BertEncoder, BertPretrainer
from kerasbert.convert import FORMATS, detect_format, load_any, save_any
from kerasbert.export import export_model_dir
from kerasbert.model_dir import load_model, load_pretrainer

PROGRAM = os.path.join(os.path.dirname(__file__), "..", "train", "convert_checkpoint.py")
POSITIONS = np.array([[1, 2, 5], [0, 3, 4], [1, 1, 2]], "int32")


@pytest.fixture
def vocab_file(tmp_path):
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces += [f"word{i}" for i in range(TINY["vocab_size"] - len(pieces))]
    path = tmp_path / "vocab.txt"
    path.write_text("".join(p + "\n" for p in pieces))
    return str(path)


def random_pretrainer(seed=0, nsp=True, **changes):
    """Every weight moved off its initial value, so a dropped, swapped or
    transposed tensor cannot pass."""
    model = BertPretrainer(BertEncoder(BertConfig(**TINY, **changes)), nsp=nsp)
    rng = np.random.RandomState(seed)
    model.set_weights([w + rng.normal(0, 0.05, w.shape) for w in model.get_weights()])
    return model


def assert_same_weights(ours, theirs):
    assert len(ours.weights) == len(theirs.weights)
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


@pytest.mark.parametrize("output_format", FORMATS)
def test_every_format_round_trips_exactly(tmp_path, vocab_file, output_format):
    model = random_pretrainer()
    target = str(tmp_path / output_format)
    save_any(model, vocab_file, target, output_format)
    assert detect_format(target) == output_format
    loaded, loaded_vocab = load_any(target)
    with open(loaded_vocab) as a, open(vocab_file) as b:
        assert a.read() == b.read()
    if output_format == "keras_hub":  # keras-hub presets hold the encoder only
        assert isinstance(loaded, BertEncoder)
        assert_same_weights(loaded, model.encoder)
        return
    assert isinstance(loaded, BertPretrainer) and loaded.nsp
    assert_same_weights(loaded.encoder, model.encoder)
    assert_same_weights(loaded.mlm_head, model.mlm_head)
    assert_same_weights(loaded.nsp_head, model.nsp_head)
    inputs = {**make_inputs(type_vocab=3), "masked_lm_positions": POSITIONS}
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(loaded(inputs)[key], model(inputs)[key])


def test_encoder_only_model_dir(tmp_path, vocab_file):
    """An encoder without heads (a Hugging Face BertModel, a keras-hub
    backbone) makes a model dir that loads as an encoder, refuses to be a
    pretrainer, and exports everything but `encoder_with_mlm`."""
    encoder = random_pretrainer().encoder
    model_dir = save_any(encoder, vocab_file, str(tmp_path / "model"))
    loaded, _ = load_model(model_dir)
    assert isinstance(loaded, BertEncoder)
    assert_same_weights(loaded, encoder)
    with pytest.raises(ValueError, match="holds an encoder only"):
        load_pretrainer(model_dir)
    with pytest.raises(ValueError, match="no MLM head to export"):
        export_model_dir(model_dir, str(tmp_path / "mlm"), export_type="encoder_with_mlm")


def test_refusals(tmp_path, vocab_file):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="junk: not a BERT model in any known format"):
        detect_format(str(tmp_path / "junk"))
    with pytest.raises(FileNotFoundError, match="nowhere: no such file"):
        detect_format(str(tmp_path / "nowhere"))
    model = random_pretrainer()
    target = save_any(model, vocab_file, str(tmp_path / "model"))
    with pytest.raises(FileExistsError, match="model already exists"):
        save_any(model, vocab_file, target)
    exact = random_pretrainer(hidden_act="gelu_exact")
    with pytest.raises(ValueError, match="approximate_gelu"):
        save_any(exact, vocab_file, str(tmp_path / "hub"), "keras_hub")
    assert not os.path.exists(tmp_path / "hub")
    with open(vocab_file, "a") as f:
        f.write("extra\n")
    with pytest.raises(ValueError, match="has 98 pieces but the model's vocab_size is 97"):
        save_any(model, vocab_file, str(tmp_path / "other"))


def run_program(*args):
    return subprocess.run(
        [sys.executable, PROGRAM, *args], capture_output=True, text=True, timeout=300
    )


def test_program_google_to_hub_modules(tmp_path, vocab_file):
    """A Google checkpoint straight to a kerasbert model dir and TF Hub
    encoder module, whose outputs are the model's."""
    model = random_pretrainer()
    google = save_any(model, vocab_file, str(tmp_path / "google"), "google")
    output = str(tmp_path / "converted")
    result = run_program(
        "--source=google", f"--input={google}/bert_model.ckpt", f"--output_dir={output}",
        "--export_type=encoder",
    )
    assert result.returncode == 0, result.stderr
    module = tf.saved_model.load(os.path.join(output, "encoder"))
    inputs = make_inputs(type_vocab=3)
    ours = model.encoder(inputs)["pooled_output"]
    np.testing.assert_allclose(module(inputs)["pooled_output"], ours, atol=1e-5)
    loaded, _ = load_model(output)
    assert_same_weights(loaded.mlm_head, model.mlm_head)

    again = run_program(f"--input={google}", f"--output_dir={output}")
    assert again.returncode == 1
    assert f"{output} already exists (pass overwrite=True" in again.stderr

    # And back out, to Hugging Face, detecting the kerasbert source.
    hf = str(tmp_path / "hf")
    result = run_program(f"--input={output}", f"--output_dir={hf}", "--output_format=huggingface")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(hf)) == ["config.json", "model.safetensors", "vocab.txt"]
