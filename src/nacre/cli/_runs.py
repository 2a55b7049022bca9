"""``nacre runs``: the runs in a store, newest first, with their ids for ``--resume`` and ``nacre report``."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nacre.cli import _common

_STATUS_STYLE = {"completed": "green", "running": "yellow", "failed": "red", "interrupted": "magenta"}


def _target(config: dict[str, Any]) -> str:
    target = config.get("target") or config.get("model") or ""
    guard = " (guarded)" if config.get("guard") else ""
    return f"{target}{guard}" if isinstance(target, str) else ""


def runs(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only runs of this kind, e.g. bench.strata-sword or attack.mrj.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    db: _common.DbOpt = None,
) -> None:
    """List the runs in a store: id, kind, status, when it started, items done, and the target.

    A run that was stopped (Ctrl-C) or whose process died shows as `interrupted`: continue it with `--resume RUN_ID`
    on the command that started it. Finished benchmark runs go to `nacre report RUN_ID`.
    """
    with _common.existing_store(db) as store:
        path = store.path
        records = store.list_runs(kind)[:limit]
        counts = store.item_counts()
    rows = [
        {
            "id": r.id,
            "kind": r.kind,
            "status": r.status,
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
            "started_at": r.created_at,  # Unix time, for machines
            "items_done": counts.get(r.id, (0, 0))[0],
            "items_started": counts.get(r.id, (0, 0))[1],
            "target": _target(r.config),
        }
        for r in records
    ]
    console = Console()
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print(f"no runs{f' of kind {kind}' if kind else ''} in {path}", highlight=False)
        return
    table = Table(title=f"Runs in {path}")
    # The id is what users copy: it leads a column wide enough never to cut it. Kind and target sit under it, and the
    # short columns never wrap, so an 80-column terminal splits no word ("attack.mr / j", "complete / d").
    table.add_column("run (kind, target)", overflow="fold", min_width=24)
    for col in ("status", "started", "done/started"):  # items finished / items begun (a run's total is not stored)
        table.add_column(col, no_wrap=True)
    for row in rows:
        style = _STATUS_STYLE.get(str(row["status"]), "")
        table.add_row(
            f"[bold]{escape(str(row['id']))}[/]\n{escape(str(row['kind']))}\n[dim]{escape(str(row['target']))}[/]",
            f"[{style}]{row['status']}[/]" if style else str(row["status"]),
            str(row["started"]),
            f"{row['items_done']}/{row['items_started']}",
        )
    console.print(table)
