"""BERT weights in any format we read or write, found by looking at them.

Formats: `kerasbert` (a model directory: `config.json`, `vocab.txt`,
`ckpt-N`), `google` (google-research/bert's TF1 checkpoint with
`bert_config.json`), `huggingface` (`config.json` + `model.safetensors` or
`pytorch_model.bin`) and `keras_hub` (a `BertBackbone` preset directory:
`config.json` + `model.weights.h5`, the vocabulary under
`assets/tokenizer/`).
"""

import os

import tensorflow as tf

from kerasbert.convert.google import WORD_EMBEDDINGS, load_google_checkpoint, save_google_checkpoint
from kerasbert.convert.huggingface import HUGGINGFACE_WEIGHTS, load_huggingface, save_huggingface
from kerasbert.convert.keras_hub import from_keras_hub, to_keras_hub
from kerasbert.io_utils import atomic_directory
from kerasbert.models import BertPretrainer

FORMATS = ("kerasbert", "google", "huggingface", "keras_hub")
KERAS_HUB_WEIGHTS = "model.weights.h5"
KERAS_HUB_VOCAB = os.path.join("assets", "tokenizer", "vocabulary.txt")


def detect_format(path):
    """Which of `FORMATS` the files at `path` are in.

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: files of none of the formats (the message says what was
            looked for).
    """
    path = os.fspath(path)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"{path}: no such file, directory or checkpoint prefix")
    if path.endswith(HUGGINGFACE_WEIGHTS) or any(
        os.path.exists(os.path.join(path, name)) for name in HUGGINGFACE_WEIGHTS
    ):
        return "huggingface"
    if os.path.exists(os.path.join(path, KERAS_HUB_WEIGHTS)):
        return "keras_hub"
    prefix = path.removesuffix(".index")
    if os.path.isdir(prefix):
        prefix = tf.train.latest_checkpoint(prefix) or os.path.join(prefix, "bert_model.ckpt")
    if os.path.exists(prefix + ".index"):
        names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
        if WORD_EMBEDDINGS in names:
            return "google"
        if "_CHECKPOINTABLE_OBJECT_GRAPH" in names:
            return "kerasbert"
    raise ValueError(
        f"{path}: not a BERT model in any known format (looked for {HUGGINGFACE_WEIGHTS}, "
        f"{KERAS_HUB_WEIGHTS}, a Google TF1 checkpoint, a kerasbert checkpoint)"
    )


def load_any(path, source="auto", vocab_file=None):
    """Loads BERT weights from any of `FORMATS`.

    Args:
        path: a directory, checkpoint prefix or weights file.
        source: one of `FORMATS`, or "auto" to detect it.
        vocab_file: the vocabulary, when it is not beside the weights.

    Returns:
        `(model, vocab_file)`: a `BertPretrainer` when the source has the
        pretraining heads, else a `BertEncoder`; the vocabulary found beside
        the weights (or the one given), None if there is none.
    """
    path = os.fspath(path)
    if source == "auto":
        source = detect_format(path)
    if source not in FORMATS:
        raise ValueError(f"source={source!r} is not 'auto' or one of {FORMATS}")
    if source == "kerasbert":
        from kerasbert.model_dir import load_model

        return load_model(path, vocab_file=vocab_file)
    if source == "google":
        model = load_google_checkpoint(path, vocab_file=vocab_file)
        beside = os.path.dirname(path.removesuffix(".index")) if not os.path.isdir(path) else path
    elif source == "huggingface":
        model = load_huggingface(path)
        beside = path if os.path.isdir(path) else os.path.dirname(path)
    else:
        model = from_keras_hub(path)
        beside = path
    if vocab_file is None:
        name = KERAS_HUB_VOCAB if source == "keras_hub" else "vocab.txt"
        candidate = os.path.join(beside, name)
        vocab_file = candidate if os.path.exists(candidate) else None
    return model, vocab_file


def save_any(
    model, vocab_file, output_dir, output_format="kerasbert", overwrite=False, approximate_gelu=False
):
    """Writes `model` (a `BertEncoder` or `BertPretrainer`) and its
    vocabulary to `output_dir` in one of `FORMATS`. keras-hub presets hold
    the encoder only (a `BertBackbone` and its `BertTokenizer`), and only
    with the tanh GELU: `approximate_gelu` lets an erf-GELU model through
    (outputs then move by about 1e-3), as in `to_keras_hub`.

    Returns:
        The directory written.
    """
    output_dir = os.fspath(output_dir)
    if output_format == "kerasbert":
        from kerasbert.model_dir import save_model_dir

        return save_model_dir(model, vocab_file, output_dir, overwrite=overwrite)
    if output_format == "google":
        with atomic_directory(output_dir, overwrite=overwrite) as tmp:
            save_google_checkpoint(model, tmp, vocab_file=vocab_file)
        return output_dir
    if output_format == "huggingface":
        return save_huggingface(model, output_dir, vocab_file=vocab_file, overwrite=overwrite)
    if output_format != "keras_hub":
        raise ValueError(f"output_format={output_format!r} is not one of {FORMATS}")
    import keras_hub

    from kerasbert.text.vocabulary import is_uncased, read_vocab

    encoder = model.encoder if isinstance(model, BertPretrainer) else model
    backbone = to_keras_hub(encoder, approximate_gelu=approximate_gelu)
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        backbone.save_to_preset(tmp)
        if vocab_file:
            pieces = read_vocab(vocab_file)
            tokenizer = keras_hub.models.BertTokenizer(vocabulary=pieces, lowercase=is_uncased(pieces))
            tokenizer.save_to_preset(tmp)
    return output_dir

