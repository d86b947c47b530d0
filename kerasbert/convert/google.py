"""Google's original TF1 BERT checkpoints <-> kerasbert models.

google-research/bert saved its variables by name (`bert/embeddings/...`,
`bert/encoder/layer_N/...`, `cls/predictions/...`, `cls/seq_relationship/...`)
with `tf.compat.v1.train.Saver`, next to a `bert_config.json` and a
`vocab.txt`. Its dense kernels are already `[in, out]` like Keras kernels;
only the next-sentence weights (`cls/seq_relationship/output_weights`,
`[2, H]`) are stored transposed. Our attention has one fused query/key/value
kernel: the three Google kernels are concatenated on the last axis on the way
in and split on the way out.
"""

import glob
import json
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from kerasbert.config import BertConfig
from kerasbert.convert import huggingface
from kerasbert.models import BertEncoder, BertPretrainer

logger = logging.getLogger(__name__)

CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"
DEFAULT_PREFIX = "bert_model.ckpt"
WORD_EMBEDDINGS = "bert/embeddings/word_embeddings"
MLM_SCOPE = "cls/predictions/"
NSP_SCOPE = "cls/seq_relationship/"
NSP_WEIGHTS = f"{NSP_SCOPE}output_weights"  # [2, H]: the one transposed kernel
GOOGLE_HEAD_NAMES = {
    "cls.predictions.bias": f"{MLM_SCOPE}output_bias",
    "cls.seq_relationship.weight": NSP_WEIGHTS,
    "cls.seq_relationship.bias": f"{NSP_SCOPE}output_bias",
}
# The fields of Google's bert_config.json. We add layer_norm_eps, which
# Google's code ignores (its LayerNorm epsilon is fixed at 1e-12).
GOOGLE_FIELDS = (
    "attention_probs_dropout_prob",
    "hidden_act",
    "hidden_dropout_prob",
    "hidden_size",
    "initializer_range",
    "intermediate_size",
    "max_position_embeddings",
    "num_attention_heads",
    "num_hidden_layers",
    "type_vocab_size",
    "vocab_size",
    "layer_norm_eps",
)


def weight_map(model):
    """Lists `(variable, names, transpose)` for every weight of `model` (a
    `BertEncoder` or `BertPretrainer`) with Google's TF1 variable names.
    Several names mean the variable is their concatenation on the last axis;
    `transpose` means the stored tensor is the transposed Keras kernel.

    Hugging Face kept Google's scopes, so the names follow from its map:
    `encoder.layer.3.output.dense.weight` is `bert/encoder/layer_3/output/
    dense/kernel`, stored `[in, out]` like ours.

    Raises:
        ValueError: the config uses ALBERT options, which Google's BERT
            checkpoints cannot hold.
    """
    entries = []
    for variable, keys, _ in huggingface.weight_map(model):
        names = tuple(_google_name(key) for key in keys)
        entries.append((variable, names, names[0] == NSP_WEIGHTS))
    return entries


def _google_name(key):
    if key in GOOGLE_HEAD_NAMES:
        return GOOGLE_HEAD_NAMES[key]
    *scopes, leaf = key.replace("encoder.layer.", "encoder.layer_").split(".")
    if scopes[-1] == "LayerNorm":
        scopes.append({"weight": "gamma", "bias": "beta"}[leaf])
    elif not scopes[-1].endswith("_embeddings"):  # tables are named by their scope alone
        scopes.append({"weight": "kernel", "bias": "bias"}[leaf])
    return "/".join(scopes if key.startswith("cls.") else ["bert", *scopes])


def _is_training_state(name):
    # Adam slots of google-research/bert's AdamWeightDecayOptimizer, and the step.
    return name == "global_step" or name.endswith(("/adam_m", "/adam_v"))


def _resolve_prefix(path):
    """A checkpoint prefix from a prefix, its `.index` file or a directory."""
    path = os.fspath(path)
    path = path.removesuffix(".index")
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        path = latest or os.path.join(path, DEFAULT_PREFIX)
    if not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"{path}: no TF checkpoint ({path}.index not found)")
    return path


def _count_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _read_config(config, prefix):
    if config is None:
        config = os.path.join(os.path.dirname(prefix), CONFIG_NAME)
        if not os.path.exists(config):
            raise FileNotFoundError(
                f"{config}: not found (needed beside {prefix}, or pass config=)"
            )
    if isinstance(config, BertConfig):
        return config, "the given config"
    if isinstance(config, dict):
        return BertConfig.from_dict(config), "the given config"
    return BertConfig.from_json_file(config), os.fspath(config)


def load_google_checkpoint(ckpt_prefix, config=None, vocab_file=None, with_heads=True):
    """Loads a TF1 checkpoint of google-research/bert into kerasbert.

    Optimizer slots (`.../adam_m`, `.../adam_v`) and `global_step` are
    skipped; other unknown tensors are skipped with a warning.

    Args:
        ckpt_prefix: the checkpoint prefix (`.../bert_model.ckpt`), its
            `.index` file, or the directory holding it.
        config: a `BertConfig`, its dict, or a `bert_config.json` path; None
            reads `bert_config.json` beside the checkpoint.
        vocab_file: a `vocab.txt` whose line count must equal
            `config.vocab_size`; None checks `vocab.txt` beside the
            checkpoint if there is one.
        with_heads: return a `BertPretrainer` when the checkpoint has the
            pretraining heads; False always returns the encoder.

    Returns:
        A `BertEncoder`, or a `BertPretrainer` (with the next-sentence head
        when `cls/seq_relationship` is present) when `cls/predictions` is.

    Raises:
        FileNotFoundError: no checkpoint, or no config beside it.
        ValueError: naming the checkpoint, for missing tensors (listed), a
            tensor whose shape does not fit the config (its shape and the
            expected one), or a vocabulary whose size is not the config's.
    """
    prefix = _resolve_prefix(ckpt_prefix)
    config, config_source = _read_config(config, prefix)
    if vocab_file is None and os.path.exists(os.path.join(os.path.dirname(prefix), VOCAB_NAME)):
        vocab_file = os.path.join(os.path.dirname(prefix), VOCAB_NAME)
    if vocab_file is not None:
        size = _count_lines(vocab_file)
        if size != config.vocab_size:
            raise ValueError(
                f"{prefix}: {vocab_file} has {size} entries but {config_source} says "
                f"vocab_size={config.vocab_size}"
            )

    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    if WORD_EMBEDDINGS not in shapes:
        # Probably another layout (a TF2 object checkpoint, ALBERT, ...):
        # listing every "missing" name would bury the real problem.
        sample = sorted(n for n in shapes if not _is_training_state(n))[:5]
        raise ValueError(
            f"{prefix}: not a Google BERT checkpoint (no {WORD_EMBEDDINGS}; "
            f"it holds e.g. {sample})"
        )

    model = encoder = BertEncoder(config)
    if with_heads and any(n.startswith(MLM_SCOPE) for n in shapes):
        model = BertPretrainer(encoder, nsp=any(n.startswith(NSP_SCOPE) for n in shapes))
    entries = weight_map(model)
    needed = [n for _, names, _ in entries for n in names]
    missing = sorted(n for n in needed if n not in shapes)
    if missing:
        raise ValueError(f"{prefix}: missing tensors {missing}")
    unused = sorted(n for n in set(shapes) - set(needed) if not _is_training_state(n))
    if not with_heads:
        unused = [n for n in unused if not n.startswith("cls/")]
    if unused:
        logger.warning("%s: ignoring tensors %s", prefix, unused)

    # Check every shape before assigning anything, so an error leaves no
    # half-loaded model behind and names the first offending tensor.
    for variable, names, transpose in entries:
        expected = list(variable.shape)
        expected[-1] //= len(names)
        expected = tuple(reversed(expected)) if transpose else tuple(expected)
        for name in names:
            if tuple(shapes[name]) != expected:
                raise ValueError(
                    f"{prefix}: {name} has shape {tuple(shapes[name])}, expected "
                    f"{expected} from {config_source}"
                )
    for variable, names, transpose in entries:
        parts = [reader.get_tensor(n).astype(np.float32) for n in names]
        parts = [p.T if transpose else p for p in parts]
        variable.assign(np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0])
    return model


def google_config(config):
    """`bert_config.json` contents (Google's field names) for a `BertConfig`."""
    values = config.to_dict()
    return {field: values[field] for field in GOOGLE_FIELDS}


def save_google_checkpoint(model, ckpt_prefix, vocab_file=None, overwrite=False):
    """Writes `model` as a TF1 checkpoint with google-research/bert's names,
    plus `bert_config.json` (and `vocab.txt` if given) beside it.

    The files are written into a temporary directory and renamed into place,
    the `.index` file last, so a reader never finds a checkpoint whose index
    and data disagree. Google's own code knows `hidden_act` "gelu" (tanh
    form, as ours) and "relu"; a "gelu_exact" model is written as such, with
    a warning, and loads back here but not in google-research/bert.

    Args:
        model: a `BertEncoder` or `BertPretrainer` (without ALBERT options).
        ckpt_prefix: the checkpoint prefix to write (`.../bert_model.ckpt`),
            or an existing directory (then `bert_model.ckpt` inside it).
        vocab_file: optional vocabulary copied beside the checkpoint as
            `vocab.txt`.
        overwrite: replace an existing checkpoint (and its config / vocab).

    Returns:
        The checkpoint prefix written.

    Raises:
        FileExistsError: the checkpoint, `bert_config.json` or `vocab.txt`
            exists and `overwrite` is False.
        ValueError: the model uses ALBERT options.
    """
    prefix = os.path.abspath(os.fspath(ckpt_prefix))
    if os.path.isdir(prefix):
        prefix = os.path.join(prefix, DEFAULT_PREFIX)
    directory = os.path.dirname(prefix)
    config = model.encoder.config if isinstance(model, BertPretrainer) else model.config
    entries = weight_map(model)
    targets = [os.path.join(directory, CONFIG_NAME)]
    if vocab_file:
        targets.append(os.path.join(directory, VOCAB_NAME))
    old_checkpoint = glob.glob(glob.escape(prefix) + ".index")
    old_checkpoint += glob.glob(glob.escape(prefix) + ".data-*")
    existing = old_checkpoint + [t for t in targets if os.path.exists(t)]
    if existing and not overwrite:
        raise FileExistsError(
            f"{prefix}: {sorted(existing)} already exist (pass overwrite=True to replace them)"
        )
    if config.hidden_act == "gelu_exact":
        logger.warning(
            "%s: hidden_act='gelu_exact' (erf GELU) is not known to google-research/bert, "
            "whose 'gelu' is the tanh approximation",
            prefix,
        )

    tensors = {}
    for variable, names, transpose in entries:
        parts = np.split(np.asarray(variable.numpy(), np.float32), len(names), axis=-1)
        for name, part in zip(names, parts):
            tensors[name] = np.ascontiguousarray(part.T if transpose else part)

    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(prefix)}.tmp-", dir=directory)
    try:
        tmp_prefix = os.path.join(tmp, os.path.basename(prefix))
        names = sorted(tensors)
        # A plain name-based bundle, exactly what TF1's Saver writes, without
        # building a graph of variables.
        tf.raw_ops.SaveV2(
            prefix=tmp_prefix,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(tensors[n]) for n in names],
        )
        with open(os.path.join(tmp, CONFIG_NAME), "w", encoding="utf-8") as f:
            json.dump(google_config(config), f, indent=2, sort_keys=True)
            f.write("\n")
        if vocab_file:
            shutil.copyfile(vocab_file, os.path.join(tmp, VOCAB_NAME))
        # Old index first (no reader may pair it with new data), then the
        # old data shards, whose number may differ from ours.
        for old in sorted(old_checkpoint, key=lambda p: not p.endswith(".index")):
            os.remove(old)
        new_files = sorted(os.listdir(tmp), key=lambda n: n.endswith(".index"))
        for name in new_files:
            os.replace(os.path.join(tmp, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return prefix
