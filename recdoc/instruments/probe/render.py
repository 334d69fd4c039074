"""The probe on the console: the interests' table, how a foreign checkpoint mapped, and the findings."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PIPE_WIDTH = 160  # columns of the probe table when stdout is not a terminal


def probe_table(probe: dict[str, Any]) -> Any:
    """A rich table, one row per interest (its shares, norm and closest sibling), narrow enough for 80 columns."""
    from rich import box
    from rich.table import Table

    cosine = probe["cosine"]
    overlap = probe["overlap"]
    table = Table(title=f"interest health: {probe.get('exp_name', '')} ({probe['split']}, {probe['users']} users, "
                        f"top {probe['top_n']})", box=box.SIMPLE_HEAD, caption_justify="left")
    for header in ("k", "retrieved", "hits", "wins", "norm", "near 0", "closest"):
        table.add_column(header, justify="right")
    for row in probe["interests"]:
        i = row["index"]
        others = [(cosine["pair_mean"][i][j], j) for j in range(probe["num_interest"]) if j != i]
        closest_cos, closest = max(others)
        table.add_row(str(i), _percent(row["retrieved_share"]), _percent(row["hit_share"]),
                      _percent(row["readout_win_share"]), f"{row['norm_mean']:.3g}",
                      _percent(row["near_zero_share"]),
                      f"{closest}: cos {closest_cos:.2f}, {_percent(overlap['pair_mean'][i][closest])}")
    table.caption = (f"retrieved/hits: shares of the merged top-{probe['top_n']} and of its hits; wins: of the "
                     f"readout for a true target; near 0: users whose interest is near zero; closest: the most "
                     f"similar other interest (cosine, shared top-{probe['top_n']}). Mean pairwise cosine "
                     f"{cosine['mean']:.3f}; mean overlap {_percent(overlap['mean'])}; users with every pair above "
                     f"{cosine['threshold']}: {_percent(cosine['all_pairs_above_share'])}; "
                     f"{probe['retrieved_items']} retrieved items, {probe['hits']} hits, {probe['targets']} targets")
    return table


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def print_probe(probe: dict[str, Any], outcomes: Sequence[Any], written: Path | None, stream: Any = None) -> None:
    """The table, then each finding (id, severity, title, evidence) and each check that came out clean."""
    from rich.console import Console

    # Off a terminal rich assumes 80 columns and wraps every row of the 7-column table; a pipe or a log file
    # has no width, so give the table the room it needs there, and leave prose unwrapped (soft_wrap). On a terminal
    # prose wraps at words; a path is printed whole either way.
    target = stream if stream is not None else sys.stdout
    tty = target.isatty()
    console = Console(file=stream, soft_wrap=not tty, width=None if tty else PIPE_WIDTH)
    loaded = probe.get("loaded_as")
    if isinstance(loaded, dict):
        console.print(f"{probe['checkpoint']}: {loaded['layout']} -> {loaded['model_type']} (K "
                      f"{loaded['num_interest']}, d {loaded['embedding_dim']}, maxlen {loaded['maxlen']}, "
                      f"{loaded['item_count']} items)", markup=False, highlight=False, soft_wrap=True)
        for slot, source in loaded["mapped"].items():
            console.print(f"  {slot} <- {source}", markup=False, highlight=False, soft_wrap=True)
        for name, why in loaded.get("ignored", {}).items():
            console.print(f"  not used: {name} ({why})", markup=False, highlight=False, soft_wrap=True)
    console.print(probe_table(probe))
    for outcome in outcomes:
        if hasattr(outcome, "severity"):
            console.print(f"[bold red]{outcome.id}[/bold red] ({outcome.severity}, confidence "
                          f"{outcome.confidence:.2f}): {outcome.title}", highlight=False)
            for evidence in outcome.evidence:
                console.print(f"  - {evidence.text}", markup=False, highlight=False)
            if outcome.fix is not None and outcome.fix.how:
                console.print(f"  fix: {outcome.fix.how}", markup=False, highlight=False)
        else:
            console.print(f"[green]{outcome.id}[/green]: not found. {outcome.reason}", highlight=False)
    if written is not None:
        console.print(f"Probe: {written}", markup=False, highlight=False, soft_wrap=True)
