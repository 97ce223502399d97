"""The guided capture on a terminal: rich prompts, live readings, verdicts in colour."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.prompt import Confirm, FloatPrompt, Prompt
from rich.table import Table


class RichUI:
    interactive = True

    def __init__(self, console: Console | None = None):
        self.console = console or Console(highlight=False)

    def say(self, text: str) -> None:
        style = "yellow" if text.startswith("warning") else None
        self.console.print(text, style=style, markup=False)

    def ask_text(self, prompt: str, default: str | None = None) -> str:
        while True:
            answer = (
                Prompt.ask(prompt, default=default, console=self.console)
                if default
                else Prompt.ask(prompt, console=self.console)
            )
            if answer and answer.strip():
                return answer.strip()

    def ask_float(self, prompt: str, default: float | None = None) -> float:
        while True:
            if default is not None:
                value = FloatPrompt.ask(prompt, default=float(default), console=self.console)
            else:
                value = FloatPrompt.ask(prompt, console=self.console)
            if value is not None and value >= 0:
                return float(value)
            self.console.print("a value >= 0, please", style="red")

    def ask_choice(self, prompt: str, choices: list[tuple[str, str]], default: str | None = None) -> str:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold cyan")
        table.add_column()
        for key, label in choices:
            table.add_row(key, label)
        self.console.print(table)
        keys = [k for k, _ in choices]
        if default in keys:
            return Prompt.ask(prompt, choices=keys, default=default, console=self.console, show_choices=False)
        return Prompt.ask(prompt, choices=keys, console=self.console, show_choices=False)

    def confirm(self, prompt: str, default: bool = True) -> bool:
        return Confirm.ask(prompt, default=default, console=self.console)

    def wait(self, prompt: str) -> None:
        self.console.input(f"[bold]{prompt}[/bold] ")

    def point_result(self, p: dict[str, Any]) -> None:
        table = Table(title=f"Point {p['id']}  ·  formula {p.get('formula')}")
        for col in ("height cm", "mean uGy/h", "net uGy/h", "normalised uGy/h"):
            table.add_column(col, justify="right")
        for h, v in (p.get("heights") or {}).items():
            flag = " (below bg)" if v.get("below_background") else ""
            table.add_row(
                str(h),
                f"{v['mean_uGy_h']:.4g}",
                f"{v['net_uGy_h']:.4g}{flag}",
                f"{v['normalised_uGy_h']:.4g}",
            )
        self.console.print(table)
        verdict = str(p.get("verdict"))
        colour = "bold green" if verdict == "pass" else "bold red"
        e = p.get("effective_dose_rate_uSv_h")
        self.console.print(
            f"E = {e:.4g} uSv/h   limit {p.get('limit_uSv_h'):g} uSv/h   ratio {p.get('ratio'):.3f}   "
            f"[{colour}]{verdict.upper()}[/]"
        )
