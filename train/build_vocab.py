"""Learns a BERT WordPiece vocabulary (`vocab.txt`) from raw text files.

    python train/build_vocab.py --input_files='corpus/*.txt' --output=vocab.txt
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags

from kerasbert.io_utils import exit_on_user_error
from kerasbert.text import build_vocab

flags.DEFINE_string("input_files", None, "Comma-separated globs of UTF-8 text files.")
flags.DEFINE_string("output", "vocab.txt", "Where to write the vocabulary.")
flags.DEFINE_integer("vocab_size", 30522, "Entries in the vocabulary, special ones included.")
flags.DEFINE_bool("lower_case", True, "Learn an uncased vocabulary.")
flags.DEFINE_integer("reserved_unused", 99, "[unusedN] placeholders after [PAD].")
flags.DEFINE_integer("min_frequency", 1, "Pieces seen fewer times are not merged.")
flags.mark_flag_as_required("input_files")


def main(argv):
    del argv
    f = flags.FLAGS
    with exit_on_user_error("build_vocab"):
        stats = build_vocab(
            f.input_files,
            vocab_size=f.vocab_size,
            lower_case=f.lower_case,
            output_file=f.output,
            reserved_unused=f.reserved_unused,
            min_frequency=f.min_frequency,
        )
    print(json.dumps({"output": f.output, **stats}))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
