"""Fine-tuning with Keras `fit`: classification, token tagging, SQuAD.

`finetune(options)` loads an encoder (kerasbert model dir, TF Hub module or
Hugging Face directory), builds the task model and its data, trains with
AdamW + warmup, evaluates after each epoch, keeps the best weights, and writes
to `output_dir`: `eval_results.json`, `history.jsonl`, TensorBoard logs,
`model.weights.h5`, a confusion-matrix PNG (classification) and a TF Serving
bundle `serving/<version>/` (unless `serving_bundle=False`).
"""

import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from kerasbert.io_utils import write_json
from kerasbert.model_dir import load_encoder
from kerasbert.models import BertEncoder
from kerasbert.text import BertPreprocessor, WordPieceTokenizer, read_vocab
from kerasbert.training.optimizer import create_optimizer
from kerasbert.training.report import plot_confusion_matrix

TASKS = ("classification", "tagging", "squad")
RESULTS_FILE = "eval_results.json"
HISTORY_FILE = "history.jsonl"
WEIGHTS_FILE = "model.weights.h5"
# The metric that picks the best epoch, per task.
SELECTION_METRIC = {"classification": "accuracy", "tagging": "f1", "squad": "f1"}


@dataclasses.dataclass
class FinetuningOptions:
    """What `finetune` needs; the fields are the flags of `train/finetune.py`."""

    task: str
    train_file: str
    eval_file: str
    encoder: str
    output_dir: str
    vocab_file: str = None
    text_field: str = "text"
    text_b_field: str = None
    label_field: str = "label"
    freeze_encoder: bool = False
    random_init: bool = False
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    max_seq_length: int = 128
    doc_stride: int = 128
    max_query_length: int = 64
    serving_bundle: bool = True
    serving_version: int = 1
    seed: int = 0
    overwrite: bool = False

    def check(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r} is not one of {TASKS}")
        for name in ("epochs", "batch_size", "max_seq_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction={self.warmup_fraction} must be in [0, 1)")


def _check_vocab_fits(encoder, own_vocab_file, given_vocab_file, encoder_path):
    """A --vocab_file of another size than the encoder's embedding table
    would feed ids it has no rows for (or never use some): refuse it before
    training."""
    if isinstance(encoder, BertEncoder):
        encoder_size = encoder.config.vocab_size
    else:  # a TF Hub module: its vocabulary asset matches its embedding table
        encoder_size = len(read_vocab(own_vocab_file))
    given_size = len(read_vocab(given_vocab_file))
    if given_size != encoder_size:
        raise ValueError(
            f"--vocab_file {given_vocab_file} has {given_size} pieces but the encoder "
            f"{encoder_path} has a vocabulary of {encoder_size}"
        )


def finetune(options):
    """Trains, evaluates each epoch, keeps the best epoch's weights, writes
    the report and the serving bundle. Returns the results dict."""
    options.check()
    results_file = os.path.join(options.output_dir, RESULTS_FILE)
    if os.path.exists(results_file) and not options.overwrite:
        raise FileExistsError(f"{results_file} exists: use another output_dir or overwrite")
    os.makedirs(options.output_dir, exist_ok=True)
    keras.utils.set_random_seed(options.seed)

    encoder, vocab_file, lower_case = load_encoder(
        options.encoder, not options.freeze_encoder, random_init=options.random_init
    )
    if options.vocab_file:
        _check_vocab_fits(encoder, vocab_file, options.vocab_file, options.encoder)
        vocab_file = options.vocab_file
    tokenizer = WordPieceTokenizer(vocab_file, lower_case=lower_case)
    task = _TASK_BUILDERS[options.task](options, encoder, tokenizer)

    steps_per_epoch = int(np.ceil(task.train_examples / options.batch_size))
    train_steps = steps_per_epoch * options.epochs
    optimizer = create_optimizer(
        options.learning_rate,
        train_steps,
        warmup_steps=int(options.warmup_fraction * train_steps),
        weight_decay=options.weight_decay,
    )
    task.model.compile(optimizer=optimizer, loss=task.loss)
    keeper = _BestEpoch(task, SELECTION_METRIC[options.task], options.output_dir)
    start = time.time()
    task.model.fit(
        task.train_dataset,
        epochs=options.epochs,
        callbacks=[keeper, keras.callbacks.TensorBoard(os.path.join(options.output_dir, "logs"))],
        shuffle=False,  # the datasets shuffle themselves
        verbose=2,
    )
    train_seconds = time.time() - start
    task.model.set_weights(keeper.best_weights)
    task.model.save_weights(os.path.join(options.output_dir, WEIGHTS_FILE))
    metrics, report = keeper.best_metrics, keeper.best_report
    if task.write_best is not None:
        task.write_best(metrics, report, keeper.best_epoch)

    results = {
        "task": options.task,
        **metrics,
        "best_epoch": keeper.best_epoch,
        "train_examples": task.train_examples,
        "eval_examples": task.eval_examples,
        "train_seconds": round(train_seconds, 1),
        "encoder": os.fspath(options.encoder),
        "freeze_encoder": options.freeze_encoder,
        "random_init": options.random_init,
        **report,
        "history": keeper.history,
    }
    serving_dir = os.path.join(options.output_dir, "serving")
    results["serving_bundle"] = None
    if options.serving_bundle:
        results["serving_bundle"] = task.export_serving(
            serving_dir, options.serving_version, vocab_file, lower_case
        )
    elif os.path.isdir(serving_dir):  # an earlier run's bundle would not match these weights
        shutil.rmtree(serving_dir)
    write_json(results_file, results)
    return results


class _BestEpoch(keras.callbacks.Callback):
    """Evaluates after each epoch and keeps the best weights, metrics and
    report in memory (so the best epoch need not be evaluated again)."""

    def __init__(self, task, metric, output_dir):
        super().__init__()
        self.task = task
        self.metric = metric
        self.history_file = os.path.join(output_dir, HISTORY_FILE)
        self.history = []
        self.best_weights = None
        self.best_metrics = None
        self.best_report = None
        self.best_epoch = None
        self.best_value = -np.inf
        open(self.history_file, "w").close()

    def on_epoch_end(self, epoch, logs=None):
        metrics, report = self.task.evaluate(self.model)
        record = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", np.nan)), **metrics}
        self.history.append(record)
        with open(self.history_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if metrics[self.metric] > self.best_value:
            self.best_value = metrics[self.metric]
            self.best_epoch = epoch + 1
            self.best_weights = self.model.get_weights()
            self.best_metrics, self.best_report = metrics, report


@dataclasses.dataclass
class _Task:
    model: keras.Model
    loss: object
    train_dataset: object
    train_examples: int
    eval_examples: int
    evaluate: object  # model -> (metrics dict, report dict)
    export_serving: object  # (dir, version, vocab_file, lower_case) -> path
    write_best: object = None  # (metrics, report, epoch) of the best epoch -> task's own files


def _classification(options, encoder, tokenizer):
    from kerasbert.data.classification_data import (
        classification_dataset,
        encode_labels,
        label_vocabulary,
        read_classification_file,
    )
    from kerasbert.export import export_serving
    from kerasbert.metrics import accuracy, confusion_matrix, macro_f1
    from kerasbert.models import BertClassifier

    fields = dict(
        text_field=options.text_field,
        text_b_field=options.text_b_field,
        label_field=options.label_field,
    )
    train = read_classification_file(options.train_file, **fields)
    evaluation = read_classification_file(options.eval_file, **fields)
    label_names = label_vocabulary(train.labels)
    eval_labels = encode_labels(evaluation, label_names)
    preprocessor = BertPreprocessor(tokenizer, seq_length=options.max_seq_length)
    train_dataset = classification_dataset(
        train, preprocessor, label_names, options.batch_size, shuffle=True, seed=options.seed
    )
    eval_inputs = classification_dataset(
        evaluation, preprocessor, label_names, options.batch_size
    ).map(lambda features, label: features)
    model = BertClassifier(
        encoder, len(label_names), dropout=options.dropout, freeze_encoder=options.freeze_encoder
    )

    def evaluate(model):
        predicted = model.predict(eval_inputs, verbose=0).argmax(-1)
        metrics = {
            "accuracy": accuracy(eval_labels, predicted),
            "macro_f1": macro_f1(eval_labels, predicted, len(label_names)),
        }
        matrix = confusion_matrix(eval_labels, predicted, len(label_names))
        return metrics, {"label_names": label_names, "confusion_matrix": np.asarray(matrix).tolist()}

    def plot(metrics, report, epoch):
        plot_confusion_matrix(
            report["confusion_matrix"], label_names,
            os.path.join(options.output_dir, "confusion_matrix.png"),
            title=f"held-out accuracy {metrics['accuracy']:.3f} (epoch {epoch})",
        )

    def serving(export_dir, version, vocab_file, lower_case):
        return export_serving(
            model, vocab_file, export_dir, version, options.max_seq_length, lower_case,
            label_names=label_names, overwrite=True,
        )

    return _Task(
        model=model,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        train_dataset=train_dataset,
        train_examples=len(train.labels),
        eval_examples=len(evaluation.labels),
        evaluate=evaluate,
        export_serving=serving,
        write_best=plot,
    )


def _squad(options, encoder, tokenizer):
    from kerasbert.data.squad import decode_answers, read_squad, squad_dataset, squad_features
    from kerasbert.export import export_serving
    from kerasbert.metrics import squad_scores
    from kerasbert.models import BertSpanQA

    windows = dict(
        max_seq_length=options.max_seq_length,
        doc_stride=options.doc_stride,
        max_query_length=options.max_query_length,
    )
    train_features = squad_features(read_squad(options.train_file), tokenizer, **windows)
    eval_examples = read_squad(options.eval_file)
    eval_features = squad_features(eval_examples, tokenizer, **windows)
    version_2 = any(example.is_impossible for example in eval_examples)
    model = BertSpanQA(encoder, freeze_encoder=options.freeze_encoder)
    eval_inputs = squad_dataset(eval_features, options.batch_size, training=False)

    def evaluate(model):
        logits = model.predict(eval_inputs, verbose=0)
        answers = decode_answers(
            eval_examples, eval_features, logits["start_logits"], logits["end_logits"],
            version_2=version_2,
        )
        scores = squad_scores(eval_examples, answers, version_2=version_2)
        return {"exact_match": scores["exact_match"], "f1": scores["f1"]}, {}

    def serving(export_dir, version, vocab_file, lower_case):
        # text_pair(text=question, text_b=context) -> start and end logits.
        return export_serving(
            model, vocab_file, export_dir, version, options.max_seq_length, lower_case,
            overwrite=True,
        )

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return _Task(
        model=model,
        loss={"start_logits": loss, "end_logits": loss},
        train_dataset=squad_dataset(
            train_features, options.batch_size, training=True, seed=options.seed
        ),
        train_examples=len(train_features["input_word_ids"]),
        eval_examples=len(eval_examples),
        evaluate=evaluate,
        export_serving=serving,
    )


def _tagging(options, encoder, tokenizer):
    import tensorflow as tf

    from kerasbert.data.conll import (
        predictions_to_tags,
        read_conll,
        tag_vocabulary,
        tagging_features,
    )
    from kerasbert.export import export_serving
    from kerasbert.metrics import entity_scores
    from kerasbert.models import BertTokenClassifier

    train = read_conll(options.train_file)
    evaluation = read_conll(options.eval_file)
    label_names = tag_vocabulary(train)
    train_features, _ = tagging_features(train, tokenizer, label_names, options.max_seq_length)
    eval_features, _ = tagging_features(evaluation, tokenizer, label_names, options.max_seq_length)
    inputs = ("input_word_ids", "input_mask", "input_type_ids")
    train_dataset = (
        tf.data.Dataset.from_tensor_slices(
            ({k: train_features[k] for k in inputs}, train_features["labels"])
        )
        .shuffle(len(train), seed=options.seed)
        .batch(options.batch_size)
    )
    eval_inputs = {k: eval_features[k] for k in inputs}
    gold = predictions_to_tags(eval_features["labels"], eval_features["labels"], label_names)
    model = BertTokenClassifier(
        encoder, len(label_names), dropout=options.dropout, freeze_encoder=options.freeze_encoder
    )

    def evaluate(model):
        logits = model.predict(eval_inputs, batch_size=options.batch_size, verbose=0)
        predicted = predictions_to_tags(logits, eval_features["labels"], label_names)
        scores = entity_scores(gold, predicted)
        return {k: scores[k] for k in ("precision", "recall", "f1")}, {"label_names": label_names}

    def serving(export_dir, version, vocab_file, lower_case):
        return export_serving(
            model, vocab_file, export_dir, version, options.max_seq_length, lower_case,
            overwrite=True,
        )

    return _Task(
        model=model,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        train_dataset=train_dataset,
        train_examples=len(train),
        eval_examples=len(evaluation),
        evaluate=evaluate,
        export_serving=serving,
    )


_TASK_BUILDERS = {"classification": _classification, "tagging": _tagging, "squad": _squad}
