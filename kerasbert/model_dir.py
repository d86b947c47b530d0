"""Model directories: what `pretrain` writes and `export` / `finetune` read.

A model directory holds `config.json` (a `BertConfig`), `vocab.txt` and
TensorFlow checkpoints `ckpt-N` of `tf.train.Checkpoint(model=BertPretrainer,
optimizer=...)`; a converted encoder-only model has `model=Checkpoint(encoder=
BertEncoder)` instead.
"""

import os
import shutil

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from kerasbert.config import BertConfig
from kerasbert.io_utils import atomic_directory
from kerasbert.models import BertEncoder, BertPretrainer
from kerasbert.text.vocabulary import is_uncased, read_vocab

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"


def checkpoint_prefix(path):
    """A model directory (its newest checkpoint) or a checkpoint prefix ->
    the checkpoint prefix."""
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f"{path}: no checkpoint in this directory")
        return prefix
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"{path}: neither a model directory nor a checkpoint prefix")
    return path


def load_model(path, config=None, vocab_file=None):
    """Restores the model saved in a model directory or checkpoint.

    Args:
        path: a model directory or a checkpoint prefix (`.../ckpt-800`).
        config: a `BertConfig`; default: `config.json` beside the checkpoint.
        vocab_file: default: `vocab.txt` beside the checkpoint.

    Returns:
        `(model, vocab_file)`: a `BertPretrainer` (with the NSP head when the
        checkpoint has one), or a `BertEncoder` when the checkpoint holds no
        MLM head (a converted encoder-only model).

    Raises:
        FileNotFoundError: no checkpoint, config or vocabulary.
        ValueError: the checkpoint, the config and the vocabulary disagree
            (the message names both sides).
    """
    prefix = checkpoint_prefix(path)
    model_dir = os.path.dirname(prefix)
    config_file = os.path.join(model_dir, CONFIG_FILE)
    if config is None:
        if not tf.io.gfile.exists(config_file):
            raise FileNotFoundError(f"{config_file}: no config beside the checkpoint {prefix}")
        config = BertConfig.from_json_file(config_file)
    vocab_file = os.fspath(vocab_file or os.path.join(model_dir, VOCAB_FILE))
    vocab_size = len(read_vocab(vocab_file))
    if vocab_size != config.vocab_size:
        raise ValueError(
            f"{vocab_file} has {vocab_size} pieces but the config's vocab_size is "
            f"{config.vocab_size}"
        )
    heads = _checkpoint_children(prefix, "model")
    if "encoder" not in heads:
        raise ValueError(f"{prefix}: not a kerasbert checkpoint (no model/encoder)")
    encoder = BertEncoder(config)
    model = encoder
    if "mlm_head" in heads:
        model = BertPretrainer(encoder, nsp="nsp_head" in heads)
    try:
        root = model if model is not encoder else tf.train.Checkpoint(encoder=encoder)
        status = tf.train.Checkpoint(model=root).restore(prefix)
        status.expect_partial()  # the optimizer's slots are not needed
        status.assert_existing_objects_matched()
    except (ValueError, AssertionError) as e:
        raise ValueError(f"{prefix} does not fit the config {config_file}: {e}") from None
    return model, vocab_file


def load_pretrainer(path, config=None, vocab_file=None):
    """Like `load_model`, for a checkpoint that must hold the MLM head.

    Returns:
        `(pretrainer, vocab_file)`.
    """
    model, vocab_file = load_model(path, config, vocab_file)
    if not isinstance(model, BertPretrainer):
        raise ValueError(f"{path}: holds an encoder only (no MLM head)")
    return model, vocab_file


def save_model_dir(model, vocab_file, model_dir, overwrite=False):
    """Writes a model directory (`config.json`, `vocab.txt`, `ckpt-0`) that
    `load_model`, `export`, `finetune` and `pretrain --init_checkpoint` read.
    The directory appears whole or not at all (on `gs://`, `config.json`
    last: see `atomic_directory`).

    Args:
        model: a `BertEncoder` or `BertPretrainer`.
        vocab_file: its vocabulary (line count = `config.vocab_size`).
        model_dir: the directory to write.
        overwrite: replace an existing directory.
    """
    encoder = model.encoder if isinstance(model, BertPretrainer) else model
    vocab_size = len(read_vocab(vocab_file))
    if vocab_size != encoder.config.vocab_size:
        raise ValueError(
            f"{vocab_file} has {vocab_size} pieces but the model's vocab_size is "
            f"{encoder.config.vocab_size}"
        )
    root = model if model is not encoder else tf.train.Checkpoint(encoder=encoder)
    with atomic_directory(model_dir, overwrite=overwrite, last=(CONFIG_FILE,)) as tmp:
        encoder.config.to_json_file(os.path.join(tmp, CONFIG_FILE))
        shutil.copyfile(vocab_file, os.path.join(tmp, VOCAB_FILE))
        checkpoint = tf.train.Checkpoint(model=root)
        tf.train.CheckpointManager(checkpoint, tmp, 1, checkpoint_name="ckpt").save(0)
    return model_dir


def _checkpoint_children(prefix, name):
    """Names of the objects saved under the checkpoint root's `name`."""
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    )
    for child in graph.nodes[0].children:
        if child.local_name == name:
            return {c.local_name for c in graph.nodes[child.node_id].children}
    return set()


def load_encoder(path, trainable=True, random_init=False):
    """The encoder of an exported TF Hub encoder module, or of BERT weights
    in any of `kerasbert.convert.FORMATS` (a kerasbert model directory or
    checkpoint, a Google TF1 checkpoint, a Hugging Face directory, a
    keras-hub preset).
    With `random_init`, the same architecture with fresh random weights (a
    baseline for what pretraining brings); not for TF Hub modules.

    Returns:
        `(encoder, vocab_file, lower_case)`: a `BertEncoder`, or a
        `kerasbert.hub.KerasLayer` over the module.
    """
    path = os.fspath(path)
    if random_init:
        encoder, vocab_file, lower_case = load_encoder(path, trainable)
        if not isinstance(encoder, BertEncoder):
            raise ValueError(f"{path}: random_init needs BERT weights, not a TF Hub module")
        return BertEncoder(encoder.config), vocab_file, lower_case
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        from kerasbert.hub import KerasLayer

        encoder = KerasLayer(path, trainable=trainable)
        module = encoder.module
        if not hasattr(module, "vocab_file"):
            raise ValueError(f"{path}: the module has no vocab_file asset; give the vocabulary")
        vocab_file = module.vocab_file.asset_path.numpy().decode()
        return encoder, vocab_file, bool(module.do_lower_case.numpy())
    from kerasbert.convert import load_any

    model, vocab_file = load_any(path)
    if vocab_file is None:
        raise FileNotFoundError(f"{path}: no vocabulary (vocab.txt) beside the weights")
    encoder = model.encoder if isinstance(model, BertPretrainer) else model
    encoder.trainable = trainable
    return encoder, vocab_file, is_uncased(read_vocab(vocab_file))
