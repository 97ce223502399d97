"""What ``radsurvey run`` shows: a live table on a terminal, or one line per sample."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from .pipeline import Sample
    from .supervisor import Daemon


def ratio_style(ratio: float) -> str:
    if ratio > 1.0:
        return "bold red"
    if ratio >= 0.5:
        return "yellow"
    return "green"


def live_table(daemon: Daemon) -> Table:
    from rich.table import Table

    table = Table(title=f"radsurvey · site {daemon.cfg.site.id} · {daemon.readings_seen} readings", expand=False)
    for col, justify in (
        ("channel", "left"),
        ("meter", "left"),
        ("value uGy/h", "right"),
        ("mean uGy/h", "right"),
        ("net uGy/h", "right"),
        ("E uSv/h", "right"),
        ("limit uSv/h", "right"),
        ("ratio", "right"),
        ("last", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for channel, pipeline in daemon.pipelines.items():
        meter = pipeline.cfg.meter
        state = daemon.meter_states.get(meter)
        meter_cell = f"{meter} ({state.state})" if state and state.state != "connected" else meter
        s = pipeline.last
        if s is None:
            table.add_row(channel, meter_cell, "-", "-", "-", "-", f"{pipeline.limit_uSv_h:g}", "-", "-")
            continue
        table.add_row(
            channel,
            meter_cell,
            f"{s.value_uGy_h:.4g}",
            f"{s.mean_uGy_h:.4g}",
            f"{s.net_uGy_h:.4g}",
            f"{s.effective_uSv_h:.4g}",
            f"{s.limit_uSv_h:g}",
            f"[{ratio_style(s.ratio)}]{s.ratio:.3f}[/]",
            s.ts.strftime("%H:%M:%S"),
        )
    return table


def json_line(sample: Sample) -> str:
    return json.dumps(sample.as_dict(), separators=(",", ":"))


def text_line(sample: Sample) -> str:
    d: dict[str, Any] = sample.as_dict()
    return (
        f"{d['ts']} {sample.channel} value={sample.value_uGy_h:.4g}uGy/h net={sample.net_uGy_h:.4g}uGy/h "
        f"E={sample.effective_uSv_h:.4g}uSv/h limit={sample.limit_uSv_h:g} ratio={sample.ratio:.3f}"
    )


def line_printer(render: Any) -> Any:
    def _print(sample: Sample) -> None:
        sys.stdout.write(render(sample) + "\n")
        sys.stdout.flush()

    return _print
