"""Evaluation metrics of the fine-tuning tasks."""

from kerasbert.metrics.classification import accuracy, confusion_matrix, macro_f1
from kerasbert.metrics.squad import squad_scores
from kerasbert.metrics.tagging import entity_scores, entity_spans

__all__ = ["accuracy", "confusion_matrix", "entity_scores", "entity_spans", "macro_f1", "squad_scores"]
