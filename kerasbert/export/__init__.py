"""Exports: TF Hub modules (encoder, preprocessor, text encoder) and TF
Serving bundles, each written atomically."""

from kerasbert.export.exporter import (
    EXPORT_TYPES,
    export_encoder,
    export_model_dir,
    export_preprocessor,
    export_serving,
    export_text_encoder,
    serve_texts,
)
from kerasbert.export.hub_encoder import HubEncoder
from kerasbert.export.hub_preprocessor import HubPreprocessor
from kerasbert.export.hub_text_encoder import HubTextEncoder
from kerasbert.export.serving_bundle import ServingBundle
from kerasbert.export.serving_warmup import WARMUP_FILE, read_warmup_requests, warmup_requests

__all__ = [
    "EXPORT_TYPES",
    "HubEncoder",
    "HubPreprocessor",
    "HubTextEncoder",
    "ServingBundle",
    "WARMUP_FILE",
    "export_encoder",
    "export_model_dir",
    "export_preprocessor",
    "export_serving",
    "export_text_encoder",
    "read_warmup_requests",
    "serve_texts",
    "warmup_requests",
]
