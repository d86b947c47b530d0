"""Prints held-out metrics of several finetune runs side by side, and the
labels a classifier's serving bundle gives to a few raw texts.

    python train/compare_finetuning.py --runs="pretrained=runs/a,random=runs/b" \
        --bundle=runs/a/serving/1 --texts="Shares fell.|The striker scored."
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags

from kerasbert.io_utils import exit_on_user_error

flags.DEFINE_string("runs", None, "Comma-separated name=output_dir of finetune runs.")
flags.DEFINE_string("bundle", None, "A classifier serving bundle (<output_dir>/serving/<version>).")
flags.DEFINE_string("texts", None, "Texts for the bundle, separated by '|'.")
flags.mark_flag_as_required("runs")


def main(argv):
    del argv
    f = flags.FLAGS
    with exit_on_user_error("compare_finetuning"):
        from kerasbert.training.report import format_finetuning_table

        runs = {}
        for item in f.runs.split(","):
            name, _, output_dir = item.partition("=")
            with open(os.path.join(output_dir, "eval_results.json")) as results:
                runs[name] = json.load(results)
        print(format_finetuning_table(runs))
        if f.bundle and f.texts:
            from kerasbert.export.exporter import serve_texts

            texts = f.texts.split("|")
            outputs = serve_texts(f.bundle, texts)
            for text, label, probabilities in zip(texts, outputs["label"], outputs["probabilities"]):
                print(f"{label.decode():>14} ({probabilities.max():.2f})  {text}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
