"""Converts BERT weights between formats: Google TF1 checkpoints, Hugging
Face directories, keras-hub presets and kerasbert model directories; and
optionally exports the result as TF Hub modules / a TF Serving bundle.

    python train/convert_checkpoint.py --source=google \
        --input=uncased_L-12_H-768_A-12/bert_model.ckpt \
        --output_dir=saved_models/bert_base --export_type=all
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags, logging

from kerasbert.io_utils import exit_on_user_error

FORMATS = ["kerasbert", "google", "huggingface", "keras_hub"]
flags.DEFINE_enum("source", "auto", ["auto"] + FORMATS, "Format of --input (auto: detect it).")
flags.DEFINE_string("input", None, "Checkpoint prefix, weights file or directory to read.")
flags.DEFINE_string("vocab_file", None, "vocab.txt, when it is not beside --input.")
flags.DEFINE_string("output_dir", None, "Directory to write.")
flags.DEFINE_enum("output_format", "kerasbert", FORMATS, "Format to write.")
flags.DEFINE_enum(
    "export_type",
    None,
    ["all", "encoder", "encoder_with_mlm", "preprocessor", "text_encoder", "serving"],
    "Also export the kerasbert model: `all` into --output_dir/<type>/, one type "
    "into --output_dir/<type>/ as well (serving: --output_dir/serving/<version>/).",
)
flags.DEFINE_integer("seq_length", 128, "Sequence length of exported text modules.")
flags.DEFINE_integer("version", 1, "TF Serving version directory.")
flags.DEFINE_bool("approximate_gelu", False, "keras_hub output: accept an erf-GELU model.")
flags.DEFINE_bool("overwrite", False, "Replace existing output.")
for required in ("input", "output_dir"):
    flags.mark_flag_as_required(required)


def main(argv):
    del argv
    f = flags.FLAGS
    logging.set_verbosity(logging.WARNING)
    with exit_on_user_error("convert_checkpoint"):
        from kerasbert.convert import load_any, save_any
        from kerasbert.export import export_model_dir

        if f.export_type and f.output_format != "kerasbert":
            raise ValueError("--export_type needs --output_format=kerasbert")
        model, vocab_file = load_any(f.input, f.source, f.vocab_file)
        if vocab_file is None and f.output_format in ("kerasbert", "google"):
            raise FileNotFoundError(f"{f.input}: no vocab.txt beside it; give --vocab_file")
        written = {
            f.output_format: save_any(
                model, vocab_file, f.output_dir, f.output_format, f.overwrite, f.approximate_gelu
            )
        }
        if f.export_type:
            export_dir = f.output_dir
            if f.export_type != "all":
                export_dir = os.path.join(f.output_dir, f.export_type)
            written.update(
                export_model_dir(
                    f.output_dir,
                    export_dir,
                    export_type=f.export_type,
                    seq_length=f.seq_length,
                    version=f.version,
                    overwrite=f.overwrite,
                )
            )
    print(json.dumps(written, indent=1))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
