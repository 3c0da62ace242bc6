"""Whether a wish holds for this request only or for the next task of its kind too.

"预算3000以内", "for 4 people on Friday", "把第二天换成博物馆" fit one request; "控制在200字以内", "I prefer
CTEs", "别安排跳跃动作" are how this user wants every such result. The skill keeps the second kind only
(the episode memory keeps the first). The tagger's labels do not tell them apart: a `constraint` is a
limit of this task's result whether or not the user will want it again, and a `correction` may fix one
line or state a taste.

The scope model is a two-label logistic regression (`occasion`, `lasting`) over the clause tagger's
features of the clause (`features.feature_ids`) and its label (`label:constraint`, …), trained on the
corpus's wishes that carry a `scope` (`docs/data/turns.md`): a clause whose model gives `lasting` at
least `LASTING` is kept. It is the `scope` model of the tagger's weights, trained by
`memskill train tagger` with the others; `python -m memskill.tagger.scope` trains it on the training
kinds alone and prints its scores on the dev and test kinds (new kinds of task).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from memskill.tagger import LASTING
from memskill.tagger.corpus import Clause, load, load_kinds
from memskill.tagger.model import WEIGHTS, Model, load_models, save_models
from memskill.tagger.train import SEED, fit_scope, scope_examples


def scores(model: Model, clauses: Sequence[Clause]) -> dict[str, float]:
    """Accuracy, and precision / recall of `lasting`, on the given clauses' annotated wishes."""
    rows, gold, _ = scope_examples(clauses)
    if not rows:
        return {"n": 0.0}
    lasting = model.probabilities(rows)[:, model.labels.index("lasting")] >= LASTING
    truth = np.array(gold)
    kept = int(lasting.sum())
    right = int((lasting & truth).sum())
    return {
        "n": float(len(rows)),
        "accuracy": round(float((lasting == truth).mean()), 3),
        "lasting_precision": round(right / kept, 3) if kept else 0.0,
        "lasting_recall": round(right / int(truth.sum()), 3) if truth.any() else 0.0,
        "lasting_share": round(float(truth.mean()), 3),
    }


def main(argv: Sequence[str]) -> int:
    """Train on the training kinds; print scores on the dev and test kinds. With `--write`, then train
    on the training and dev kinds (as the shipped tagger is) and store the model in the tagger's weights
    beside the others, without retraining them."""
    kinds = load_kinds()
    clauses = load()
    by_split = {s: [c for c in clauses if kinds[c.kind]["split"] == s] for s in ("train", "dev", "test")}
    model = fit_scope(by_split["train"], SEED)
    for split, part in by_split.items():
        for lang in ("zh", "en"):
            print(split, lang, scores(model, [c for c in part if c.lang == lang]))
    if "--write" in argv:
        models = load_models()
        models["scope"] = fit_scope(by_split["train"] + by_split["dev"], SEED)
        save_models(models)
        print(f"wrote the scope model into {WEIGHTS}: {models['scope'].info}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
