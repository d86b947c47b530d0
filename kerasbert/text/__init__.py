"""BERT's text side: vocabulary learning, in-graph WordPiece, input packing."""

from kerasbert.text.bert_preprocessor import BertPreprocessor
from kerasbert.text.vocabulary import build_vocab, read_vocab
from kerasbert.text.word_piece_tokenizer import WordPieceTokenizer

__all__ = ["BertPreprocessor", "WordPieceTokenizer", "build_vocab", "read_vocab"]
