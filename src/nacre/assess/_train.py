"""Training the assessor's heads from the shipped corpus, reproducibly.

Everything that could vary is pinned: the split is a hash of each id, the solver is deterministic L-BFGS,
and BLAS runs on one thread so that floating-point sums happen in one order. On the same kind of machine the
result is bit-for-bit identical to the shipped weights (checked by their SHA-256).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nacre.assess._corpus import Example, corpus_sha256
from nacre.assess._embed import Embedder, Vectors
from nacre.assess._heads import DEFAULT_ROUTE, HEADS, LEXICAL_HEADS, Head, Heads, signal_features
from nacre.assess._lexical import sparse_matrix
from nacre.assess._machine import machine_kind
from nacre.assess._normalize import normalize
from nacre.assess._types import INTERACTIONS
from nacre.errors import MissingExtraError
from nacre.taxonomy import USER_TYPES

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters, stored with the weights.

    Attributes:
        hidden: Hidden units per head (0 for a linear, logistic-regression head).
        alpha: L2 penalty of the hidden-layer heads.
        c: Inverse L2 regularisation strength of linear heads.
        lexical_c: Inverse L2 regularisation strength of the n-gram heads.
        max_iter: Iteration cap of the optimiser.
        folds: Cross-validation folds used to choose that threshold.
        batch: Embedding batch size.
        seeds: Networks per hidden-layer head, each from another random start, averaged (see ``_fit``).
        jobs: Worker processes training those networks side by side (the result is the same for any number).
        per_language: Train one head set per language (a language needs at least ``min_route`` examples of
            each harm label; others join the default set) and one harm threshold for all of them.
        min_route: See ``per_language``.
    """

    hidden: int = 256
    alpha: float = 1.0
    c: float = 0.01
    lexical_c: float = 10.0
    max_iter: int = 500
    folds: int = 5
    batch: int = 64
    seeds: int = 5
    jobs: int = 2
    per_language: bool = False
    min_route: int = 50


def featurize(
    texts: Sequence[str], embedder: Embedder, *, batch: int = 64, progress: Progress | None = None
) -> Vectors:
    """Embed cleaned texts and append the signal features, as the classifier does at run time."""
    normed = [normalize(t) for t in texts]
    rows: list[Vectors] = []
    for start in range(0, len(normed), batch):
        chunk = normed[start : start + batch]
        emb = embedder.embed([n.text for n in chunk])
        feats = np.stack([signal_features(n.signals, n.lang) for n in chunk])
        rows.append(np.hstack([emb, feats]).astype(np.float32))
        if progress is not None:
            progress(min(start + batch, len(normed)), len(normed))
    return np.vstack(rows) if rows else np.zeros((0, embedder.dim), dtype=np.float32)


def _targets(examples: Sequence[Example], labels: Sequence[str]) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    return {
        "harmful": (("false", "true"), ["true" if e.harmful else "false" for e in examples]),
        "category": (tuple(labels), [e.category for e in examples]),
        "severity": (("0", "1", "2", "3"), [str(e.severity) for e in examples]),
        "user_type": (USER_TYPES, [e.user_type for e in examples]),
        "interaction": (INTERACTIONS, [e.interaction for e in examples]),
    }


def _fit_network(
    z: np.ndarray, y: list[str], config: TrainConfig, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One single-threaded network: its classes, then first-layer weights and biases, then output ones."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        mlp = MLPClassifier(
            hidden_layer_sizes=(config.hidden,), alpha=config.alpha, max_iter=config.max_iter, random_state=seed
        )
        mlp.fit(z, y)
    return [str(c) for c in mlp.classes_], mlp.coefs_[0], mlp.intercepts_[0], mlp.coefs_[1], mlp.intercepts_[1]


def _fit(x: Vectors, y: list[str], labels: Sequence[str], config: TrainConfig) -> Head:
    mean = x.mean(axis=0, dtype=np.float64)
    scale = x.std(axis=0, dtype=np.float64) + 1e-6
    z = (x - mean) / scale
    if config.hidden:
        from joblib import Parallel, delayed

        # Several networks differing only in their seed, joined into one wider network whose output is the mean
        # of their logits: one network's result swings with its random start, the average much less. Each
        # network trains single-threaded in its own worker, so the result does not depend on the scheduling.
        jobs = min(config.seeds, config.jobs)
        nets = Parallel(n_jobs=jobs)(delayed(_fit_network)(z, y, config, seed) for seed in range(config.seeds))
        classes = nets[0][0]
        firsts_w = [np.asarray(w, dtype=np.float64).T / scale for _, w, _, _, _ in nets]  # standardisation folded in
        firsts_b = [
            np.asarray(b, dtype=np.float64) - w @ mean for w, (_, _, b, _, _) in zip(firsts_w, nets, strict=True)
        ]
        coef = np.hstack([np.asarray(w, dtype=np.float64).T / config.seeds for _, _, _, w, _ in nets])
        bias = np.sum([np.asarray(b, dtype=np.float64) / config.seeds for _, _, _, _, b in nets], axis=0)
        hidden: tuple[np.ndarray, np.ndarray] | None = (np.vstack(firsts_w), np.concatenate(firsts_b))
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=config.c, max_iter=config.max_iter, tol=1e-6, random_state=0)
        model.fit(z, y)
        classes = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64) / scale
        bias = np.asarray(model.intercept_, dtype=np.float64) - coef @ mean
        hidden = None
    extra: dict[str, np.ndarray] = {}
    if hidden is not None:
        extra = {"hidden_weights": hidden[0].astype(np.float32), "hidden_bias": hidden[1].astype(np.float32)}
    return _head(classes, coef, bias, labels, extra)


def _fit_lexical(rows: Any, y: list[str], labels: Sequence[str], config: TrainConfig) -> Head:
    """A logistic-regression head over hashed n-gram rows (a SciPy CSR matrix)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=config.lexical_c, max_iter=config.max_iter * 2, tol=1e-6, random_state=0)
    model.fit(rows, y)
    classes = [str(c) for c in model.classes_]
    return _head(classes, np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64), labels, {})


def _head(
    classes: list[str], coef: np.ndarray, bias: np.ndarray, labels: Sequence[str], extra: dict[str, np.ndarray]
) -> Head:
    if len(labels) == 2 and coef.shape[0] == 1:
        # Binary: one output scoring the second class; keep it in the declared label order.
        sign = 1.0 if classes[1] == labels[1] else -1.0
        return Head(tuple(labels), (sign * coef).astype(np.float32), (sign * bias).astype(np.float32), **extra)
    if len(classes) == 2 and coef.shape[0] == 1:
        # Two of several labels present: the one logistic output becomes a softmax over those two.
        coef = np.vstack([np.zeros_like(coef), coef])
        bias = np.concatenate([np.zeros_like(bias), bias])
    # Labels absent from the data get a very negative bias so they are never predicted.
    full_w = np.zeros((len(labels), coef.shape[1]), dtype=np.float64)
    full_b = np.full(len(labels), -30.0, dtype=np.float64)
    for row, cls in enumerate(classes):
        full_w[labels.index(cls)] = coef[row]
        full_b[labels.index(cls)] = bias[row]
    return Head(tuple(labels), full_w.astype(np.float32), full_b.astype(np.float32), **extra)


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)), dtype=np.float64)


def _blend(x: Vectors, rows: Any, y: list[str], config: TrainConfig) -> tuple[tuple[float, float, float], Any]:
    """How to blend the embedding and n-gram harm heads, and the blend's out-of-fold scores.

    Both heads are refitted on each cross-validation fold of the training split; a logistic regression on their
    out-of-fold logits gives the blend. The held-out split is never used.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    truth = np.array([v == "true" for v in y])
    dense = np.zeros(len(y), dtype=np.float64)
    lexical = np.zeros(len(y), dtype=np.float64)
    for fit_idx, val_idx in StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=0).split(x, truth):
        fold_y = [y[i] for i in fit_idx]
        dense[val_idx] = _fit(x[fit_idx], fold_y, ("false", "true"), config).predict(x[val_idx])[:, 1]
        head = _fit_lexical(rows[fit_idx], fold_y, ("false", "true"), config)
        lexical[val_idx] = _probs_of(head, rows[val_idx])[:, 1]
    features = np.column_stack([_logit(dense), _logit(lexical)])
    stacker = LogisticRegression(C=1.0, tol=1e-8, random_state=0).fit(features, truth)
    a, b = (round(float(v), 6) for v in stacker.coef_[0])
    c = round(float(stacker.intercept_[0]), 6)
    scores = 1.0 / (1.0 + np.exp(-(a * features[:, 0] + b * features[:, 1] + c)))
    return (a, b, c), scores


def _youden(scores: Any, truth: Any) -> float:
    """The threshold that maximises Youden's J (recall minus false-positive rate) on out-of-fold scores."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    youden = [(scores[truth] >= t).mean() - (scores[~truth] >= t).mean() for t in grid]
    return float(grid[int(np.argmax(youden))])


def _probs_of(head: Head, rows: Any) -> np.ndarray:
    """A lexical head's probabilities for CSR rows (training-time twin of :meth:`Head.predict_rows`)."""
    logits = np.asarray(rows @ head.weights.T.astype(np.float64)) + head.bias
    if logits.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.column_stack([1 - p, p])
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _metrics(
    heads: Heads, x: Vectors, examples: Sequence[Example], langs: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    targets = _targets(examples, labels)
    out: dict[str, Any] = {"n": len(examples)}
    probs = heads.predict_texts(x, [e.text for e in examples], langs)
    for name in HEADS:
        head_labels, truth = targets[name]
        pred = [head_labels[i] for i in probs[name].argmax(axis=1)]
        out[f"{name}_accuracy"] = round(float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])), 4)
    harm = probs["harmful"][:, 1] >= heads.thresholds["harmful"]
    truth_h = np.array([e.harmful for e in examples])
    out["harmful_recall"] = round(float(harm[truth_h].mean()) if truth_h.any() else 0.0, 4)
    out["harmful_false_positive_rate"] = round(float(harm[~truth_h].mean()) if (~truth_h).any() else 0.0, 4)
    return out


def _routes(examples: Sequence[Example], langs: Sequence[str], config: TrainConfig) -> dict[str, list[int]]:
    """Training-split indices per head set: a language of its own when it has enough of both harm labels."""
    train_idx = [i for i, e in enumerate(examples) if e.split == "train"]
    present = sorted({langs[i] for i in train_idx})
    default = DEFAULT_ROUTE if DEFAULT_ROUTE in present else (present[0] if present else DEFAULT_ROUTE)
    own: set[str] = set()
    if config.per_language:
        for lang in present:
            labels = [examples[i].harmful for i in train_idx if langs[i] == lang]
            if min(sum(labels), len(labels) - sum(labels)) >= config.min_route:
                own.add(lang)
    if own == {default}:
        own = set()
    groups: dict[str, list[int]] = {}
    for i in train_idx:
        groups.setdefault(langs[i] if langs[i] in own else default, []).append(i)
    return dict(sorted(groups.items(), key=lambda kv: kv[0] != default))


def train_heads(
    examples: Sequence[Example],
    embedder: Embedder,
    labels: Sequence[str],
    *,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    features: Vectors | None = None,
) -> Heads:
    """Train all heads on the corpus's training split and evaluate them on its held-out split.

    With ``config.per_language`` each language with enough examples gets its own head set (the message's detected
    language picks it at run time, :meth:`Heads.for_lang`); the harm threshold is chosen once, on the pooled
    out-of-fold scores of every set, so a probability means the same whatever the language.

    Args:
        examples: The whole corpus (both splits).
        embedder: The embedder to train for.
        labels: Category labels (``none`` first).
        config: Hyper-parameters.
        progress: Called with (done, total) while embedding.
        features: Precomputed features for ``examples`` (same order), e.g. from a cache.

    Returns:
        The trained heads (the default language's set, with the others as routes), with held-out metrics in
        ``meta``.

    Raises:
        MissingExtraError: If scikit-learn (the ``train`` extra) is missing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise MissingExtraError("training needs the `train` extra: pip install 'nacre[train]'") from None
    config = config or TrainConfig()
    x_all = (
        features
        if features is not None
        else featurize([e.text for e in examples], embedder, batch=config.batch, progress=progress)
    )
    langs = [normalize(e.text).lang for e in examples]
    groups = _routes(examples, langs, config)
    fitted: dict[str, tuple[dict[str, Head], dict[str, Head], tuple[float, float, float]]] = {}
    pooled_scores: list[Any] = []
    pooled_truth: list[Any] = []
    with threadpool_limits(limits=1):
        for route, idx in groups.items():
            train = [examples[i] for i in idx]
            x = x_all[idx]
            rows = sparse_matrix([e.text for e in train])
            targets = _targets(train, labels)
            heads = {name: _fit(x, targets[name][1], targets[name][0], config) for name in HEADS}
            lexical = {name: _fit_lexical(rows, targets[name][1], targets[name][0], config) for name in LEXICAL_HEADS}
            blend, scores = _blend(x, rows, targets["harmful"][1], config)
            fitted[route] = (heads, lexical, blend)
            pooled_scores.append(scores)
            pooled_truth.append(np.array([e.harmful for e in train]))
    threshold = _youden(np.concatenate(pooled_scores), np.concatenate(pooled_truth))
    thresholds = {"harmful": round(threshold, 6), "uncertain_low": 0.25, "uncertain_high": 0.75}

    def head_set(route: str, meta: dict[str, Any], routes: dict[str, Heads]) -> Heads:
        heads, lexical, blend = fitted[route]
        # The user-type blend is a fixed geometric mean: fitting it would need a second cross-validation of every head.
        mix: dict[str, tuple[float, ...]] = {"harmful": blend, "user_type": (0.5, 0.5)}
        return Heads(
            heads=heads,
            embedder=embedder.name,
            thresholds=thresholds,
            meta=meta,
            lexical=lexical,
            mix=mix,
            routes=routes,
        )

    default, *others = groups
    routes = {lang: head_set(lang, {"language": lang, "train_examples": len(groups[lang])}, {}) for lang in others}
    trained = head_set(default, {}, routes)
    held_idx = [i for i, e in enumerate(examples) if e.split == "heldout"]
    held = [examples[i] for i in held_idx]
    held_langs = [langs[i] for i in held_idx]
    meta: dict[str, Any] = {
        "corpus_sha256": corpus_sha256(examples),
        "train_examples": sum(len(idx) for idx in groups.values()),
        "heldout_examples": len(held),
        "routes": {route: len(idx) for route, idx in groups.items()},
        "config": {
            "hidden": config.hidden,
            "alpha": config.alpha,
            "c": config.c,
            "lexical_c": config.lexical_c,
            "max_iter": config.max_iter,
            "folds": config.folds,
            "seeds": config.seeds,
            "per_language": config.per_language,
            "min_route": config.min_route,
        },
        "heldout": _metrics(trained, x_all[held_idx], held, held_langs, labels) if held else {},
        # Bit-for-bit reproduction holds only where the kernels round the same way (see nacre.assess._machine).
        "machine": machine_kind(),
    }
    for lang in sorted(set(held_langs)):
        part = [i for i, h in enumerate(held_langs) if h == lang]
        meta[f"heldout_{lang}"] = _metrics(
            trained, x_all[held_idx][part], [held[i] for i in part], [lang] * len(part), labels
        )
    logger.info("trained assessor heads: %s", meta["heldout"])
    return head_set(default, meta, routes)


# How far heads retrained on another kind of CPU may drift from the reference: each held-out metric, the threshold.
METRIC_TOLERANCE = 0.02
THRESHOLD_TOLERANCE = 0.05


def heldout_differences(
    reference: Heads,
    other: Heads,
    *,
    metric_tolerance: float = METRIC_TOLERANCE,
    threshold_tolerance: float = THRESHOLD_TOLERANCE,
) -> list[str]:
    """Where two head sets trained on the same corpus disagree by more than rounding can explain.

    Heads trained on another kind of CPU differ in their last bits; their held-out figures and decision threshold
    should still agree. The threshold gets a wider tolerance because the rule that picks it sits on a flat curve.

    Args:
        reference: The head set to compare against (the shipped one).
        other: The retrained head set.
        metric_tolerance: Largest allowed absolute difference of each held-out metric.
        threshold_tolerance: Largest allowed absolute difference of the harm threshold.

    Returns:
        One line per disagreement; empty when they agree.
    """
    problems: list[str] = []
    if reference.meta.get("corpus_sha256") != other.meta.get("corpus_sha256"):
        problems.append("trained on different corpora")
    gap = abs(reference.thresholds["harmful"] - other.thresholds["harmful"])
    if gap > threshold_tolerance:
        problems.append(
            f"harm threshold {other.thresholds['harmful']:.3f} vs {reference.thresholds['harmful']:.3f} "
            f"(tolerance {threshold_tolerance})"
        )
    ours: dict[str, Any] = reference.meta.get("heldout", {})
    theirs: dict[str, Any] = other.meta.get("heldout", {})
    for key, value in ours.items():
        if key == "n":
            continue
        if key not in theirs:
            problems.append(f"held-out {key} missing")
        elif abs(float(theirs[key]) - float(value)) > metric_tolerance:
            problems.append(f"held-out {key} {theirs[key]} vs {value} (tolerance {metric_tolerance})")
    return problems
