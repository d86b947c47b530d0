"""Raw text -> sharded TFRecords of BERT pretraining instances (MLM + NSP/SOP).

    python train/create_pretraining_data.py --input_files='corpus/*.txt' \
        --vocab_file=vocab.txt --output_dir=data/pretrain
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags

from kerasbert.data import create_pretraining_data
from kerasbert.io_utils import exit_on_user_error

flags.DEFINE_string("input_files", None, "Comma-separated globs of text files.")
flags.DEFINE_string("vocab_file", None, "The BERT vocab.txt.")
flags.DEFINE_string("output_dir", None, "Directory for the shards and metadata.json.")
flags.DEFINE_integer("num_shards", 4, "TFRecord files to write.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per instance, [CLS] and [SEP]s included.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked positions per instance.")
flags.DEFINE_float("masked_lm_prob", 0.15, "Share of tokens to predict.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
flags.DEFINE_integer("dupe_factor", 10, "Passes over the corpus, each with other masks.")
flags.DEFINE_integer("random_seed", 12345, "Seed: the same seed gives the same bytes.")
flags.DEFINE_bool("whole_word_mask", False, "Mask every piece of a chosen word.")
flags.DEFINE_bool("sop", False, "ALBERT sentence-order labels instead of next-sentence labels.")
flags.DEFINE_bool("do_lower_case", True, "Uncased vocabulary.")
flags.DEFINE_enum("input_format", "lines", ["lines", "paragraphs"],
                  "lines: one sentence per line, blank line between documents; "
                  "paragraphs: one document per file, lines split into sentences.")
flags.DEFINE_string("language", "en", "Language for sentence splitting (paragraphs).")
flags.DEFINE_integer("num_workers", 2, "Processes that create instances.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
for required in ("input_files", "vocab_file", "output_dir"):
    flags.mark_flag_as_required(required)


def main(argv):
    del argv
    f = flags.FLAGS
    with exit_on_user_error("create_pretraining_data"):
        stats = create_pretraining_data(
            f.input_files,
            f.vocab_file,
            f.output_dir,
            num_shards=f.num_shards,
            max_seq_length=f.max_seq_length,
            max_predictions_per_seq=f.max_predictions_per_seq,
            masked_lm_prob=f.masked_lm_prob,
            short_seq_prob=f.short_seq_prob,
            dupe_factor=f.dupe_factor,
            random_seed=f.random_seed,
            whole_word_mask=f.whole_word_mask,
            sop=f.sop,
            do_lower_case=f.do_lower_case,
            input_format=f.input_format,
            language=f.language,
            num_workers=f.num_workers,
            overwrite=f.overwrite,
        )
    print(json.dumps({"output_dir": f.output_dir, **stats}, indent=2))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
