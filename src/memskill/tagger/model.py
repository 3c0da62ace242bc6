"""The turn tagger's model: multinomial logistic regression over hashed clause features, in numpy.

`logits = Σ W[f] · v_f + b` over the clause's feature slots f (each with weight `v_f = 1/√n`, n the
number of features, so long and short clauses weigh alike). The weights are stored as 8-bit integers
with one scale per label (`quantise`: a weight is off by at most half a step, 1/254 of its label's
largest; the archive is 1.2 MB instead of 2.9 MB at float16) in one `.npz` beside this file
(`weights.npz`, rebuilt by `memskill train tagger`) that holds the tagger's models by name (`clause`,
`boundary`, `span_start`, `span_end`, `scope`), each with its labels, and the hash size they were
trained with, so a model and the code that reads it cannot silently disagree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memskill.tagger.features import BUCKETS

WEIGHTS = Path(__file__).with_name("weights.npz")


@dataclass
class Model:
    """Weights of a trained tagger."""

    labels: tuple[str, ...]
    weights: np.ndarray
    """(BUCKETS, labels) float32."""
    bias: np.ndarray
    """(labels,) float32."""
    info: str = ""
    """How it was trained (corpus size, seed, date): shown by `memskill train tagger`."""

    def logits(self, rows: list[np.ndarray]) -> np.ndarray:
        """Scores of each clause (one array of feature slots per clause) for each label."""
        out = np.empty((len(rows), len(self.labels)), dtype=np.float32)
        for i, slots in enumerate(rows):
            out[i] = self.weights[slots].sum(axis=0) / np.sqrt(max(len(slots), 1)) + self.bias
        return out

    def probabilities(self, rows: list[np.ndarray]) -> np.ndarray:
        """Softmax of `logits`."""
        return softmax(self.logits(rows))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        steps, scale = quantise(self.weights)
        return {
            f"{prefix}.weights": steps,
            f"{prefix}.scale": scale,
            f"{prefix}.bias": self.bias.astype(np.float32),
            f"{prefix}.labels": np.array(self.labels),
            f"{prefix}.info": np.array(self.info),
        }


def quantise(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`weights` as int8 steps and the float32 scale of each column (label): `steps * scale` restores
    them to within half a step."""
    scale = np.abs(weights).max(axis=0).astype(np.float32) / 127
    scale[scale == 0] = 1.0
    return np.round(weights / scale).astype(np.int8), scale


def save_models(models: dict[str, Model], path: Path = WEIGHTS) -> None:
    """Write several named models into one compressed archive."""
    arrays: dict[str, np.ndarray] = {"buckets": np.array(BUCKETS)}
    for name, model in models.items():
        arrays.update(model.arrays(name))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())


def load_models(path: Path = WEIGHTS) -> dict[str, Model]:
    """The named models of an archive written by `save_models`."""
    with np.load(path, allow_pickle=False) as data:
        if int(data["buckets"]) != BUCKETS:
            raise ValueError(
                f"{path} was trained with {int(data['buckets'])} hash slots, the code uses {BUCKETS}: "
                "rebuild it with `memskill train tagger`"
            )
        names = sorted({key.split(".")[0] for key in data.files if "." in key})
        return {
            name: Model(
                labels=tuple(str(label) for label in data[f"{name}.labels"]),
                weights=data[f"{name}.weights"].astype(np.float32)
                * (data[f"{name}.scale"] if f"{name}.scale" in data.files else np.float32(1)),
                bias=data[f"{name}.bias"].astype(np.float32),
                info=str(data[f"{name}.info"]),
            )
            for name in names
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
