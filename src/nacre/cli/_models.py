"""``nacre models``: the providers and what each needs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nacre.models import mock_scripts, providers


def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List model providers, an example model string for each, and whether it is ready on this machine."""
    rows: list[dict[str, object]] = []
    for name, provider in sorted(providers().items()):
        reason = provider.availability()
        rows.append(
            {
                "provider": name,
                "example": provider.example,
                "ready": reason is None,
                "status": "ready" if reason is None else reason,
                "needs": provider.requires,
                "description": provider.description,
            }
        )
    console = Console()
    scripts = mock_scripts()
    for row in rows:
        if row["provider"] == "mock":
            row["scripts"] = scripts
    if as_json:
        console.print_json(json.dumps(rows))
        return
    # Model strings never wrap (a broken "gpt-4o-min / i" cannot be copied); the prose column takes the rest.
    table = Table(title="Model providers", show_lines=True)
    table.add_column("provider · example", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("what it is (needs)")
    for r in rows:
        status = "[green]ready[/]" if r["ready"] else "[yellow]not ready[/]"
        about = escape(str(r["description"])) + f"\n[dim]needs: {escape(str(r['needs']))}[/]"
        if not r["ready"]:
            about += f"\n[yellow]{escape(str(r['status']))}[/]"
        table.add_row(f"[bold]{escape(str(r['provider']))}[/]\n{escape(str(r['example']))}", status, about)
    console.print(table)
    mocks = Table(title="mock/<script>: scripted stand-ins, never a real model")
    mocks.add_column("model string", no_wrap=True)
    mocks.add_column("what it does", overflow="fold")
    for name, description in scripts.items():
        mocks.add_row(f"mock/{name}", description)
    console.print(mocks)
