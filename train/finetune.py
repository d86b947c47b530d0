"""Fine-tunes a BERT encoder for classification, token tagging or SQuAD.

    python train/finetune.py --task=classification --train_file=train.csv \
        --eval_file=dev.csv --encoder=saved_models/demo/encoder --output_dir=runs/topics
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags, logging

from kerasbert.io_utils import exit_on_user_error

flags.DEFINE_enum("task", "classification", ["classification", "tagging", "squad"], "Task.")
flags.DEFINE_string("train_file", None, "Training data (CSV, TSV, JSONL; CoNLL; SQuAD JSON).")
flags.DEFINE_string("eval_file", None, "Held-out data, same format.")
flags.DEFINE_string("text_field", "text", "Column / key of the text (classification).")
flags.DEFINE_string("text_b_field", None, "Column / key of the second text of pairs.")
flags.DEFINE_string("label_field", "label", "Column / key of the label.")
flags.DEFINE_string(
    "encoder", None, "kerasbert model dir or checkpoint, TF Hub module dir, or Hugging Face dir."
)
flags.DEFINE_string("vocab_file", None, "vocab.txt, when the encoder carries none.")
flags.DEFINE_bool("freeze_encoder", False, "Train the head only (feature extraction).")
flags.DEFINE_bool("random_init", False, "The encoder's architecture with fresh random weights.")
flags.DEFINE_integer("epochs", 3, "Passes over the training data.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (AdamW, linear warmup and decay).")
flags.DEFINE_float("warmup_fraction", 0.1, "Share of the steps spent warming up.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm, biases).")
flags.DEFINE_float("dropout", 0.1, "Dropout before the task head.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, special tokens included.")
flags.DEFINE_integer("doc_stride", 128, "SQuAD: stride between context windows.")
flags.DEFINE_integer("max_query_length", 64, "SQuAD: question tokens kept.")
flags.DEFINE_bool("serving_bundle", True, "Export a TF Serving bundle of the best weights.")
flags.DEFINE_integer("serving_version", 1, "Version directory of the serving bundle.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output_dir", None, "Report, weights, TensorBoard logs, serving bundle.")
flags.DEFINE_bool("overwrite", False, "Replace the results in an existing output_dir.")
for required in ("train_file", "eval_file", "encoder", "output_dir"):
    flags.mark_flag_as_required(required)


def main(argv):
    del argv
    f = flags.FLAGS
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs every step at INFO
    with exit_on_user_error("finetune"):
        from kerasbert.training.finetuning import FinetuningOptions, finetune

        fields = {field.name for field in FinetuningOptions.__dataclass_fields__.values()}
        results = finetune(FinetuningOptions(**{name: f[name].value for name in fields}))
    summary = {k: v for k, v in results.items() if k not in ("history", "confusion_matrix")}
    print(json.dumps(summary, indent=1))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
