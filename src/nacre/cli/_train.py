"""``nacre train``: reproduce the trained parts of nacre from the shipped data."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nacre.assess import (
    Heads,
    TrainConfig,
    describe_machine,
    embedder_named,
    featurize,
    heldout_differences,
    load_corpus,
    load_heads,
    train_heads,
)
from nacre.assess._train import METRIC_TOLERANCE, THRESHOLD_TOLERANCE
from nacre.errors import ConfigError
from nacre.taxonomy import load_taxonomy

app = typer.Typer(help="Retrain nacre's small models from the data shipped with it.", no_args_is_help=True)


@app.command("assess")
def train_assess(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for heads.npz and heads.json. Default: a new folder ./assessor-heads."),
    ] = None,
    embedder_name: Annotated[
        str | None,
        typer.Option(
            "--embedder",
            help="Embedder to train on, by the name stored with heads. Default: the shipped heads' embedder.",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Compare the result with the shipped heads and fail if they differ: bit for bit on the kind of CPU "
            "they were trained on, by their held-out figures on another.",
        ),
    ] = False,
) -> None:
    """Train the assessor's heads (category, severity, user type, interaction, harmful) from the shipped corpus.

    Deterministic: the same corpus on the same kind of CPU gives bit-identical weights (--check verifies). CPUs
    with other instruction sets (AVX2 vs AVX-512, say) round the embedding and training arithmetic differently;
    there --check compares the held-out figures and the threshold instead, within stated tolerances.
    """
    console = Console(stderr=True)
    shipped = load_heads().embedder
    embedder = embedder_named(embedder_name or shipped)  # an unknown name fails before any folder exists
    if check and embedder.name != shipped:
        raise ConfigError(
            f"--check compares with the shipped heads, which read {shipped}; heads trained on {embedder.name} "
            "have nothing to match: leave out --check or --embedder"
        )
    target = out or Path("assessor-heads")
    try:  # before minutes of training, not after
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the heads to {target}: {exc.strerror or exc}") from None
    taxonomy = load_taxonomy()
    examples = load_corpus(taxonomy.classifier_labels)
    console.print(
        f"corpus: {len(examples)} examples; embedding with {embedder.name}, then training (minutes on 2 cores)"
    )
    config = TrainConfig()
    start = time.perf_counter()
    columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("embed", total=len(examples))
        features = featurize(
            [e.text for e in examples],
            embedder,
            batch=config.batch,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    status = f"training the heads ({config.seeds} networks each, {config.jobs} worker processes)"
    with console.status(status):
        heads = train_heads(examples, embedder, taxonomy.classifier_labels, config=config, features=features)
    heads.save(target)
    held = heads.meta.get("heldout", {})
    console.print(f"trained in {time.perf_counter() - start:.0f} s; wrote {target}/heads.npz and heads.json")
    console.print(
        "held-out: "
        + ", ".join(f"{k} {v}" for k, v in held.items() if k != "n")
        + f" (n={held.get('n', 0)}); harmful threshold {heads.thresholds['harmful']:.3f}"
    )
    console.print(f"weights sha256 {heads.weights_sha256()}")
    if check:
        _check_against_shipped(console, heads)


def _check_against_shipped(console: Console, heads: Heads) -> None:
    shipped = load_heads()
    if shipped.weights_sha256() == heads.weights_sha256():
        console.print("[green]identical to the shipped weights[/]")
        return
    where = resources.files("nacre.data").joinpath("assessor")
    trained_on, here = shipped.meta.get("machine"), heads.meta.get("machine")
    if trained_on is None or trained_on == here:
        console.print(f"[red]differs from the shipped weights[/] ({shipped.weights_sha256()} in {where})")
        raise typer.Exit(1)
    console.print(
        f"the shipped heads were trained on {describe_machine(trained_on)}; this machine is "
        f"{describe_machine(here)}: its kernels round differently, so the weights cannot match bit for bit here"
    )
    problems = heldout_differences(shipped, heads)
    if problems:
        console.print("[red]the held-out figures differ from the shipped heads':[/] " + "; ".join(problems))
        raise typer.Exit(1)
    console.print(
        f"[green]held-out figures agree with the shipped heads'[/] (each metric within {METRIC_TOLERANCE}, "
        f"threshold within {THRESHOLD_TOLERANCE})"
    )


@app.command("smoothing")
def train_smoothing(
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the factors (.npz)."),
    ] = Path("e5-ffn-smoothing.npz"),
    check: Annotated[
        bool, typer.Option("--check", help="Compare the result with the shipped factors and fail if they differ.")
    ] = False,
) -> None:
    """Calibrate the smoothing factors of the e5 graph's `smooth` precision from the shipped corpus.

    They let the feed-forward output product run in int8 (SmoothQuant). Calibration runs the float32 graph over a
    fixed sample of the corpus's training split (about 20 s) and never reads an evaluation set. Deterministic:
    the factors are powers of two, and --check verifies the shipped ones.
    """
    from nacre.assess._e5smooth import calibrate, calibration_texts, load_smoothing

    console = Console(stderr=True)
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name ending in .npz")
    try:  # before the calibration, not after
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the factors to {out}: {exc.strerror or exc}") from None
    taxonomy = load_taxonomy()
    texts = calibration_texts([e.text for e in load_corpus(taxonomy.classifier_labels) if e.split == "train"])
    columns = (TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("calibrate", total=len(texts))
        smoothing = calibrate(texts, progress=lambda done, total: progress.update(task, completed=done))
    try:
        smoothing.save(out)
    except OSError as exc:
        raise ConfigError(f"cannot write the factors to {out}: {exc.strerror or exc}") from None
    chosen = ", ".join(f"{a:.1f}" if a else "-" for a in smoothing.alphas)
    console.print(f"wrote {out}; exponent per layer: {chosen}; sha256 {smoothing.sha256()}")
    if check:
        shipped = load_smoothing()
        if shipped.sha256() != smoothing.sha256():
            console.print(f"[red]differs from the shipped factors[/] ({shipped.sha256()})")
            raise typer.Exit(1)
        console.print("[green]identical to the shipped factors[/]")
