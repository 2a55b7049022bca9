"""Would fine-tuning the embedding model help the assessor? A measured probe, not a shipped path.

The shipped assessor keeps multilingual-e5-small frozen and trains small heads on its vectors. This script instead
fine-tunes e5's top layers on the assessor corpus's training split (harm and user type, the same labels the heads
learn), then trains nacre's real heads on the fine-tuned vectors and compares them with the shipped heads on the
data used to choose between configurations, per language (never an evaluation set): the corpus's held-out split,
the model-selection set and, through the whole assessor, the multi-turn development set. Same report as
benchmarks/assess_selection.py.

--corpus DIR fine-tunes and trains on another corpus folder (the held-out split reported is always the shipped
corpus's, so that a folder holding the shipped files plus a new slice is compared on the same examples).
--route-english N reports the routed configuration: English messages of at most N characters read by the
fine-tuned encoder and its heads (their harm probability shifted in logit space so that their threshold falls on
the shipped one), every other message read exactly as now, so Chinese is unchanged by construction.
--match-scale also reports it with the fine-tuned harm probabilities mapped onto the shipped heads' scale by a
quantile-quantile map fitted on the English held-out split (monotone: the ranking is unchanged, and the policy's
bounds cut the same share of those messages).

Needs PyTorch (not a nacre dependency; CPU wheel: pip install torch==2.13.0) and the `assess` and `train` extras.
About 15 minutes on 2 cores: the frozen lower layers run once, the top layers train for a few epochs, the heads
train as `nacre train assess` does, then every text the reports need is embedded by the fine-tuned encoder in
float32 (same 4-bit weights, same windows and pooling as the shipped runtime). Fixed seeds.

Run: .venv/bin/python benchmarks/finetune_probe.py [--tune-layers 6] [--epochs 3] [--lr 5e-5] [--corpus DIR]
       [--route-english N [--match-scale]]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalsets import packaged, run
from assess_selection import report_multiturn, report_sources, selection_set
from nacre.assess import (
    Assessor,
    Classifier,
    E5OnnxEmbedder,
    Example,
    Scores,
    TrainConfig,
    featurize,
    load_corpus,
    load_heads,
    normalize,
)
from nacre.assess import train_heads as fit_heads
from nacre.assess._e5file import E5File
from nacre.assess._normalize import Normalized
from nacre.errors import NacreError
from nacre.taxonomy import USER_TYPES, load_taxonomy

SEED = 0


def build_encoder(model: E5File) -> tuple[Any, Any]:
    """e5's layers as torch modules (float32 copies of the 4-bit weights) and the input function."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    cfg = model.config
    hidden, heads = cfg.hidden, cfg.heads

    def tensor(name: str, rows: int | None = None) -> Any:
        values = model.floats(name)
        return torch.tensor(values.reshape(rows, -1) if rows else values)

    class Layer(nn.Module):
        def __init__(self, index: int) -> None:
            super().__init__()
            p = f"l{index}."

            def linear(name: str) -> nn.Linear:
                bias = tensor(f"{p}{name}.b")
                weight = tensor(f"{p}{name}.w", len(bias))
                layer = nn.Linear(weight.shape[1], weight.shape[0])
                layer.weight.data, layer.bias.data = weight, bias
                return layer

            def norm(name: str) -> nn.LayerNorm:
                layer = nn.LayerNorm(hidden, eps=cfg.eps)
                layer.weight.data, layer.bias.data = tensor(f"{p}{name}.w"), tensor(f"{p}{name}.b")
                return layer

            self.q, self.k, self.v, self.ao, self.fi, self.fo = (linear(n) for n in ("q", "k", "v", "ao", "fi", "fo"))
            self.aln, self.oln = norm("aln"), norm("oln")

        def forward(self, x: Any, mask: Any) -> Any:
            b, t, _ = x.shape

            def split(y: Any) -> Any:
                return y.view(b, t, heads, hidden // heads).transpose(1, 2)

            att = F.scaled_dot_product_attention(
                split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask[:, None, None, :]
            )
            x = self.aln(x + self.ao(att.transpose(1, 2).reshape(b, t, hidden)))
            return self.oln(x + self.fo(F.gelu(self.fi(x))))

    positions = torch.tensor(
        model.floats("emb.pos").reshape(-1, hidden) + model.floats("emb.type").reshape(-1, hidden)[0]
    )
    gamma, beta = tensor("emb.ln.w"), tensor("emb.ln.b")

    def inputs(windows: list[list[int]]) -> tuple[Any, Any]:
        longest = max(len(w) for w in windows)
        x = torch.zeros(len(windows), longest, hidden)
        mask = torch.zeros(len(windows), longest, dtype=torch.bool)
        for row, ids in enumerate(windows):
            x[row, : len(ids)] = torch.tensor(model.word_rows(np.array(ids, np.int64))) + positions[: len(ids)]
            mask[row, : len(ids)] = True
        return F.layer_norm(x, (hidden,), gamma, beta, cfg.eps), mask

    return nn.ModuleList(Layer(i) for i in range(cfg.layers)), inputs


def finetune(texts: list[str], train: list[tuple[int, bool, str]], args: argparse.Namespace) -> TunedEncoder:
    """Fine-tune the top layers on ``train`` (text index, harmful, user type); return the tuned encoder."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    model = E5File(None)
    tokenizer = E5OnnxEmbedder("float")
    cfg = model.config
    windows = [[cfg.bos, *tokenizer.token_ids(t)[: cfg.max_positions - 2], cfg.eos] for t in texts]
    layers, inputs = build_encoder(model)
    frozen = cfg.layers - args.tune_layers

    def batches(indices: list[int], size: int) -> list[list[int]]:
        ordered = sorted(indices, key=lambda i: len(windows[i]))
        return [ordered[i : i + size] for i in range(0, len(ordered), size)]

    start = time.perf_counter()
    lower: dict[int, Any] = {}
    with torch.no_grad():
        for batch in batches(list(range(len(texts))), 64):
            x, mask = inputs([windows[i] for i in batch])
            for layer in layers[:frozen]:
                x = layer(x, mask)
            for row, i in enumerate(batch):
                lower[i] = x[row, : len(windows[i])].clone()
    print(f"lower {frozen} layers over {len(texts)} texts: {time.perf_counter() - start:.0f} s", flush=True)
    with torch.no_grad():  # the port must match the onnxruntime float32 graph before any training
        sample = list(range(0, len(texts), max(1, len(texts) // 16)))
        x, mask = inputs([windows[i] for i in sample])
        for layer in layers:
            x = layer(x, mask)
        weights = mask[..., None].float()
        ported = F.normalize((x * weights).sum(1) / weights.sum(1), dim=-1).numpy()
    agreement = float((ported * tokenizer.embed([texts[i] for i in sample])).sum(axis=1).min())
    if agreement < 0.9999:
        raise SystemExit(f"error: the torch port disagrees with the onnxruntime graph (cosine {agreement:.5f})")
    top = layers[frozen:]
    harm_head, user_head = nn.Linear(cfg.hidden, 1), nn.Linear(cfg.hidden, len(USER_TYPES))

    def forward(batch: list[int]) -> tuple[Any, Any, Any]:
        longest = max(len(windows[i]) for i in batch)
        x = torch.zeros(len(batch), longest, cfg.hidden)
        mask = torch.zeros(len(batch), longest, dtype=torch.bool)
        for row, i in enumerate(batch):
            x[row, : len(windows[i])] = lower[i]
            mask[row, : len(windows[i])] = True
        for layer in top:
            x = layer(x, mask)
        weights = mask[..., None].float()
        pooled = F.normalize((x * weights).sum(1) / weights.sum(1), dim=-1)
        return harm_head(pooled * 10)[:, 0], user_head(pooled * 10), pooled

    ids = [i for i, _, _ in train]
    harmful = {i: float(h) for i, h, _ in train}
    user = {i: USER_TYPES.index(u) for i, _, u in train}

    def targets(batch: list[int]) -> tuple[Any, Any]:
        return torch.tensor([harmful[i] for i in batch]), torch.tensor([user[i] for i in batch])

    # Start the two output layers from a fit on the frozen vectors, so early steps do not wreck the encoder.
    with torch.no_grad():
        order = [i for b in batches(ids, 64) for i in b]
        pooled = torch.cat([forward(b)[2] for b in batches(ids, 64)])
    y_harm, y_user = targets(order)
    warm = torch.optim.AdamW([*harm_head.parameters(), *user_head.parameters()], lr=1e-2)
    for _ in range(300):
        warm.zero_grad()
        loss = F.binary_cross_entropy_with_logits(harm_head(pooled * 10)[:, 0], y_harm)
        (loss + F.cross_entropy(user_head(pooled * 10), y_user)).backward()
        warm.step()
    groups = [
        {"params": top.parameters(), "lr": args.lr},
        {"params": [*harm_head.parameters(), *user_head.parameters()], "lr": 1e-3},
    ]
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = args.epochs * len(batches(ids, 16))
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    rng = np.random.default_rng(SEED)
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        order_batches = batches(ids, 16)
        rng.shuffle(order_batches)  # type: ignore[arg-type]
        for batch in order_batches:
            optimiser.zero_grad()
            harm_logit, user_logit, _ = forward(batch)
            y_harm, y_user = targets(batch)
            loss = F.binary_cross_entropy_with_logits(harm_logit, y_harm) + F.cross_entropy(user_logit, y_user)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: loss {total / len(ids):.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    layers.eval()
    return TunedEncoder(layers, inputs, tokenizer, model)


class TunedEncoder:
    """The fine-tuned encoder as a nacre embedder: the shipped runtime's windows and pooling, in torch float32."""

    name = "e5-finetuned-probe"
    dim = 384
    similarity_dim = 384

    def __init__(self, layers: Any, inputs: Any, tokenizer: E5OnnxEmbedder, model: E5File) -> None:
        self._layers, self._inputs, self._tokenizer = layers, inputs, tokenizer
        self._bos, self._eos = model.config.bos, model.config.eos
        self._window = model.config.max_positions - 2
        self._vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            windows = {
                t: [ids[s : s + self._window] for s in range(0, max(len(ids), 1), self._window)]
                for t in missing
                for ids in [self._tokenizer.token_ids(t)]
            }
            pooled = self._pool(list({tuple(w): None for ws in windows.values() for w in ws}))
            for text, ws in windows.items():
                # each window weighted by its length, as the shipped runtime combines a long text's windows
                total = sum(max(len(w), 1) * pooled[tuple(w)].astype(np.float64) for w in ws)
                self._vectors[text] = (total / np.linalg.norm(total)).astype(np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def _pool(self, windows: list[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        """Each window's mean-pooled last layer (not normalised), in batches of similar length."""
        import torch

        out: dict[tuple[int, ...], np.ndarray] = {}
        ordered = sorted(windows, key=len)
        with torch.no_grad():
            for start in range(0, len(ordered), 32):
                batch = ordered[start : start + 32]
                x, mask = self._inputs([[self._bos, *w, self._eos] for w in batch])
                for layer in self._layers:
                    x = layer(x, mask)
                weights = mask[..., None].float()
                for w, v in zip(batch, ((x * weights).sum(1) / weights.sum(1)).numpy(), strict=True):
                    out[w] = v
        return out

    def clear_cache(self) -> None:
        self._vectors.clear()


class RoutedClassifier(Classifier):
    """English messages of at most ``max_chars`` characters go to ``tuned``; every other message to ``shipped``.

    The tuned heads' harm probability is shifted in logit space so that their threshold falls on the shipped one
    (the assessor reads one threshold), then optionally mapped through ``scale`` (sorted tuned scores, sorted shipped
    scores) onto the shipped heads' scale.
    """

    def __init__(
        self,
        shipped: Classifier,
        tuned: Classifier,
        max_chars: int,
        scale: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        super().__init__(shipped.embedder, shipped.heads)
        self.shipped, self.tuned, self.max_chars, self.scale = shipped, tuned, max_chars, scale
        self.shift = logit(shipped.heads.thresholds["harmful"]) - logit(tuned.heads.thresholds["harmful"])

    def routed(self, item: Normalized) -> bool:
        return item.lang == "en" and len(item.original) <= self.max_chars

    def tuned_harm(self, harm: float) -> float:
        p = float(1 / (1 + np.exp(-(logit(harm) + self.shift))))
        return float(np.interp(p, *self.scale)) if self.scale is not None else p

    def score(self, items: Sequence[Normalized]) -> list[Scores]:
        out: list[Scores | None] = [None] * len(items)
        for reader, wanted in ((self.tuned, True), (self.shipped, False)):
            rows = [i for i, item in enumerate(items) if self.routed(item) == wanted]
            for i, scores in zip(rows, reader.score([items[i] for i in rows]), strict=True):
                out[i] = replace(scores, harm=self.tuned_harm(scores.harm)) if wanted else scores
        return [s for s in out if s is not None]

    def clear_cache(self) -> None:
        self.shipped.clear_cache()
        self.tuned.clear_cache()


def logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return float(np.log(p / (1 - p)))


def english_scale(shipped: Classifier, routed: RoutedClassifier, held: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """A quantile-quantile map from ``routed``'s unmapped tuned scores to the shipped ones (English held-out)."""
    items = [n for n in (normalize(e.text) for e in held) if n.lang == "en"]
    ours = np.sort([routed.tuned_harm(s.harm) for s in routed.tuned.score(items)])
    theirs = np.sort([s.harm for s in shipped.score(items)])
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune-layers", type=int, default=6, help="top layers to fine-tune, 1-12 (default 6)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training split (default 3)")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate of the encoder (default 5e-5)")
    parser.add_argument("--corpus", type=Path, help="fine-tune and train on this corpus folder (default: shipped)")
    parser.add_argument(
        "--route-english",
        type=int,
        metavar="N",
        help="report English messages of at most N characters read by the fine-tuned encoder, all else as now",
    )
    parser.add_argument(
        "--match-scale",
        action="store_true",
        help="with --route-english: also report it mapped onto the shipped heads' scale",
    )
    args = parser.parse_args()
    if not 1 <= args.tune_layers <= 12 or args.epochs < 1 or args.lr <= 0:
        raise SystemExit("error: --tune-layers must be 1-12, --epochs at least 1 and --lr positive")
    if args.route_english is not None and args.route_english < 1:
        raise SystemExit("error: --route-english takes a positive number of characters")
    if args.match_scale and args.route_english is None:
        raise SystemExit("error: --match-scale needs --route-english")
    if args.corpus is not None and not args.corpus.is_dir():
        raise SystemExit(f"error: --corpus {args.corpus}: no such folder")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("error: this probe needs PyTorch: pip install torch==2.13.0 (CPU wheel)") from None
    taxonomy = load_taxonomy()
    labels = taxonomy.classifier_labels
    try:
        corpus = load_corpus(labels, args.corpus)
    except NacreError as exc:
        raise SystemExit(f"error: --corpus {args.corpus}: {exc}") from None
    texts = list(dict.fromkeys(normalize(e.text).text for e in corpus if e.split == "train"))
    index = {t: i for i, t in enumerate(texts)}
    train = [(index[normalize(e.text).text], e.harmful, e.user_type) for e in corpus if e.split == "train"]
    encoder = finetune(texts, train, args)
    start = time.perf_counter()
    heads = fit_heads(
        corpus, encoder, labels, config=TrainConfig(), features=featurize([e.text for e in corpus], encoder)
    )
    print(f"heads trained in {time.perf_counter() - start:.0f} s; threshold {heads.thresholds['harmful']:.3f}")
    held = [e for e in load_corpus(labels) if e.split == "heldout"]
    dev = selection_set()
    conversations = packaged("devsets/multiturn_dev.jsonl")
    shipped = Classifier(E5OnnxEmbedder(), load_heads())
    tuned = Classifier(encoder, heads)
    name = f"top {args.tune_layers} layers fine-tuned"
    candidates: list[tuple[str, Classifier]] = [("shipped heads (frozen e5)", shipped)]
    if args.route_english is None:
        candidates.append((name, tuned))
    else:
        name += f", English messages of at most {args.route_english} characters"
        routed = RoutedClassifier(shipped, tuned, args.route_english)
        candidates.append((name, routed))
        if args.match_scale:
            scale = english_scale(shipped, routed, held)
            candidates.append(
                (f"{name}, on the shipped scale", RoutedClassifier(shipped, tuned, args.route_english, scale))
            )
    for title, classifier in candidates:
        print(f"\n== {title}")
        report_sources(classifier, held, dev)
        report_multiturn(Assessor(classifier, taxonomy), conversations)


if __name__ == "__main__":
    run(main)
