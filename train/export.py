"""Exports a trained model as TF Hub modules and a TF Serving bundle.

    python train/export.py --model_dir=saved_models/demo/pretrain \
        --export_dir=saved_models/demo --export_type=all
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags, logging

from kerasbert.io_utils import exit_on_user_error

flags.DEFINE_string("model_dir", None, "A model directory written by pretrain (newest checkpoint).")
flags.DEFINE_string("checkpoint", None, "Or one checkpoint prefix, e.g. .../ckpt-800.")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the one beside the checkpoint).")
flags.DEFINE_enum(
    "export_type",
    "all",
    ["all", "encoder", "encoder_with_mlm", "preprocessor", "text_encoder", "serving"],
    "What to export; `all` writes one subdirectory per type.",
)
flags.DEFINE_string("export_dir", "saved_models/export", "Where to write.")
flags.DEFINE_integer("seq_length", 128, "Sequence length of the text modules and the bundle.")
flags.DEFINE_integer("version", 1, "TF Serving version directory of the bundle.")
flags.DEFINE_bool("do_lower_case", None, "Default: read off the vocabulary.")
flags.DEFINE_bool("overwrite", False, "Replace existing exports.")
flags.DEFINE_bool(
    "serving_jit_compile",
    False,
    "Run the serving bundle's model under XLA (~1.6x lower latency on CPU; "
    "tensorflow_model_server then needs --xla_cpu_compilation_enabled=true).",
)
flags.DEFINE_list(
    "serving_warmup_batch_sizes",
    ["1", "8"],
    "Request batch sizes the bundle's assets.extra/tf_serving_warmup_requests warms up "
    "(every length bucket of each under XLA); empty: no warm-up file.",
)


def main(argv):
    del argv
    f = flags.FLAGS
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs every step at INFO
    with exit_on_user_error("export"):
        if (f.model_dir is None) == (f.checkpoint is None):
            raise ValueError("give exactly one of --model_dir and --checkpoint")
        from kerasbert.export import export_model_dir

        try:
            warmup_batch_sizes = [int(size) for size in f.serving_warmup_batch_sizes]
        except ValueError:
            raise ValueError(
                f"--serving_warmup_batch_sizes={','.join(f.serving_warmup_batch_sizes)}: "
                "not a list of integers"
            ) from None

        written = export_model_dir(
            f.model_dir or f.checkpoint,
            f.export_dir,
            export_type=f.export_type,
            vocab_file=f.vocab_file,
            seq_length=f.seq_length,
            version=f.version,
            lower_case=f.do_lower_case,
            overwrite=f.overwrite,
            serving_jit_compile=f.serving_jit_compile,
            serving_warmup_batch_sizes=warmup_batch_sizes,
        )
    print(json.dumps(written, indent=1))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
