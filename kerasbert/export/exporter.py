"""Writing exports: each one atomic, refusing an existing target unless told."""

import os

import tensorflow as tf

from kerasbert.export.hub_encoder import HubEncoder
from kerasbert.export.hub_preprocessor import HubPreprocessor
from kerasbert.export.hub_text_encoder import HubTextEncoder
from kerasbert.export.serving_bundle import ServingBundle
from kerasbert.export.serving_warmup import warmup_requests, write_warmup_requests
from kerasbert.io_utils import IncompleteCopyError, atomic_directory, is_remote
from kerasbert.model_dir import load_model
from kerasbert.models import BertPretrainer
from kerasbert.text import WordPieceTokenizer, read_vocab
from kerasbert.text.vocabulary import is_uncased

EXPORT_TYPES = ("encoder", "encoder_with_mlm", "preprocessor", "text_encoder", "serving")
ENCODER_SERVING_OUTPUTS = ("pooled_output", "sequence_output")


def classic_tokenizer(vocab_file, lower_case=None):
    """The tokenizer of every export: tf.text's classic ops, which TF
    Serving links. `lower_case=None` reads it off the vocabulary."""
    if lower_case is None:
        lower_case = is_uncased(read_vocab(vocab_file))
    return WordPieceTokenizer(vocab_file, lower_case=lower_case, implementation="classic")


class ExportWriteError(OSError):
    """An export could not be written; an existing one at the path is intact."""


def save_module(module, export_dir, overwrite=False, signatures=None, write_extra=None):
    """`tf.saved_model.save` into a temporary directory put in place whole
    (see `atomic_directory`; on `gs://`, `saved_model.pb` last);
    `write_extra(directory)`, if given, adds files to it first.

    Raises:
        ExportWriteError: the write failed (a full disk, say), naming the
            path and the cause; a previous export at `export_dir` is intact,
            unless copying into place on `gs://` failed part way: then the
            message names the complete copy.
    """
    try:
        with atomic_directory(export_dir, overwrite=overwrite, last=("saved_model.pb",)) as tmp:
            tf.saved_model.save(module, tmp, signatures=signatures)
            if write_extra is not None:
                write_extra(tmp)
    except (OSError, tf.errors.OpError) as e:
        if isinstance(e, FileExistsError):
            raise
        cause = e.message if isinstance(e, tf.errors.OpError) else str(e)
        if isinstance(e, IncompleteCopyError):
            raise ExportWriteError(str(e)) from e
        kept = " (the previous export there is intact)" if tf.io.gfile.exists(export_dir) else ""
        raise ExportWriteError(f"could not write the export {_full_path(export_dir)}{kept}: {cause.strip()}") from e
    return _full_path(export_dir)


def _full_path(path):
    return os.fspath(path) if is_remote(path) else os.path.abspath(path)


def export_encoder(encoder, vocab_file, export_dir, lower_case=None, mlm_head=None, overwrite=False):
    """Writes the TF Hub encoder module (with `mlm` when `mlm_head` is given)."""
    _check_vocab(encoder, vocab_file)
    if lower_case is None:
        lower_case = is_uncased(read_vocab(vocab_file))
    module = HubEncoder(encoder, vocab_file, lower_case, mlm_head=mlm_head)
    signatures = {"serving_default": module.serving_default}
    return save_module(module, export_dir, overwrite, signatures)


def export_preprocessor(vocab_file, export_dir, seq_length=128, lower_case=None, overwrite=False):
    """Writes the TF Hub preprocessor module."""
    module = HubPreprocessor(classic_tokenizer(vocab_file, lower_case), seq_length=seq_length)
    return save_module(module, export_dir, overwrite)


def export_text_encoder(
    encoder, vocab_file, export_dir, seq_length=128, lower_case=None, overwrite=False
):
    """Writes the raw-text encoder module."""
    _check_vocab(encoder, vocab_file)
    module = HubTextEncoder(encoder, classic_tokenizer(vocab_file, lower_case), seq_length)
    signatures = {"serving_default": module.serving_default}
    return save_module(module, export_dir, overwrite, signatures)


def export_serving(
    model,
    vocab_file,
    export_dir,
    version=1,
    seq_length=128,
    lower_case=None,
    output_names=None,
    label_names=None,
    overwrite=False,
    jit_compile=False,
    warmup_batch_sizes=(1, 8),
):
    """Writes a TF Serving bundle to `export_dir/<version>/` (see
    `ServingBundle`), with the warm-up requests the model server replays
    at load for `warmup_batch_sizes` (see `serving_warmup`; none if empty)."""
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"version={version!r}: TF Serving versions are integers >= 0")
    tokenizer = classic_tokenizer(vocab_file, lower_case)
    bundle = ServingBundle(model, tokenizer, seq_length, output_names, label_names, jit_compile)
    requests = warmup_requests(bundle, warmup_batch_sizes) if warmup_batch_sizes else []
    target = os.path.join(export_dir, str(version))
    write_extra = (lambda directory: write_warmup_requests(requests, directory)) if requests else None
    return save_module(bundle, target, overwrite, bundle.signatures, write_extra)


def export_model_dir(
    model_dir,
    export_dir,
    export_type="all",
    vocab_file=None,
    seq_length=128,
    version=1,
    lower_case=None,
    overwrite=False,
    serving_jit_compile=False,
    serving_warmup_batch_sizes=(1, 8),
):
    """Exports a trained model directory (or checkpoint prefix).

    `export_type="all"` writes `encoder/`, `encoder_with_mlm/`,
    `preprocessor/`, `text_encoder/` and `serving/<version>/` under
    `export_dir`; a single type writes to `export_dir` itself (`serving`:
    `export_dir/<version>/`). Existing targets are refused before anything
    is written, unless `overwrite`. `serving_jit_compile`: the bundle's
    model runs under XLA (see `ServingBundle`); `serving_warmup_batch_sizes`:
    see `export_serving`.

    Returns:
        dict export type -> written directory.
    """
    types = EXPORT_TYPES if export_type == "all" else (export_type,)
    if export_type != "all" and export_type not in EXPORT_TYPES:
        raise ValueError(f"export_type={export_type!r} is not 'all' or one of {EXPORT_TYPES}")
    targets = {}
    for kind in types:
        base = os.path.join(export_dir, kind) if export_type == "all" else export_dir
        targets[kind] = os.path.join(base, str(version)) if kind == "serving" else base
    if not overwrite:
        for target in targets.values():
            if tf.io.gfile.exists(target):
                raise FileExistsError(f"{target} already exists (pass --overwrite to replace it)")

    model, vocab_file = load_model(model_dir, vocab_file=vocab_file)
    has_mlm = isinstance(model, BertPretrainer)
    encoder = model.encoder if has_mlm else model
    if "encoder_with_mlm" in targets and not has_mlm:
        if export_type != "all":
            raise ValueError(f"{model_dir}: holds an encoder only, no MLM head to export")
        del targets["encoder_with_mlm"]  # nothing to export; the rest still is
    written = {}
    for kind, target in targets.items():
        if kind == "preprocessor":
            written[kind] = export_preprocessor(vocab_file, target, seq_length, lower_case, True)
        elif kind in ("encoder", "encoder_with_mlm"):
            head = model.mlm_head if kind == "encoder_with_mlm" else None
            written[kind] = export_encoder(encoder, vocab_file, target, lower_case, head, True)
        elif kind == "text_encoder":
            written[kind] = export_text_encoder(
                encoder, vocab_file, target, seq_length, lower_case, True
            )
        else:
            written[kind] = export_serving(
                encoder,
                vocab_file,
                os.path.dirname(target),
                version,
                seq_length,
                lower_case,
                ENCODER_SERVING_OUTPUTS,
                overwrite=True,
                jit_compile=serving_jit_compile,
                warmup_batch_sizes=serving_warmup_batch_sizes,
            )
    return written


def _check_vocab(encoder, vocab_file):
    size = len(read_vocab(vocab_file))
    if size != encoder.config.vocab_size:
        raise ValueError(
            f"{vocab_file} has {size} pieces but the encoder's vocab_size is "
            f"{encoder.config.vocab_size}"
        )


def serve_texts(bundle_dir, texts, texts_b=None):
    """Runs a serving bundle's text signature the way a model server does
    (`serving_default`, or `text_pair` with `texts_b`); returns numpy outputs."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    signatures = tf.saved_model.load(os.fspath(bundle_dir)).signatures
    if texts_b is None:
        outputs = signatures["serving_default"](text=tf.constant(list(texts)))
    else:
        outputs = signatures["text_pair"](text=tf.constant(list(texts)), text_b=tf.constant(list(texts_b)))
    return {name: value.numpy() for name, value in outputs.items()}
