"""The guided capture on a terminal: rich prompts, live readings, verdicts in colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.table import Table

from .points import entered_at_wait, parse_decimal

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation, SurveyEvaluation


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
        """A number >= 0; a decimal comma is accepted (``1,5``)."""
        while True:
            if default is not None:
                answer = Prompt.ask(prompt, default=f"{default:g}", console=self.console)
            else:
                answer = Prompt.ask(prompt, console=self.console)
            try:
                value = parse_decimal(answer or "")
            except ValueError as err:
                self.console.print(str(err), style="red", markup=False)
                continue
            if value >= 0:
                return value
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
        """Wait for Enter; text typed here is named and not used, and Enter is asked for again."""
        while problem := entered_at_wait(self.console.input(f"[bold]{prompt}[/bold] ")):
            self.console.print(problem, style="yellow", markup=False)

    def survey_summary(self, result: SurveyEvaluation) -> None:
        """Every point of the evaluated survey in one table (the end of a survey)."""
        from .views import evaluation_table

        self.console.print(evaluation_table(result.points, title="Survey summary", rooms=True))

    def point_result(self, p: PointEvaluation) -> None:
        table = Table(title=f"Point {p.id}  ·  formula {p.formula}")
        for col in ("height cm", "nominal cm", "mean uGy/h", "net uGy/h", "normalised uGy/h"):
            table.add_column(col, justify="right")
        for v in p.heights:
            flag = " (below bg)" if v.below_background else ""
            table.add_row(
                str(v.height_cm),
                str(v.nominal_height_cm or v.height_cm),
                f"{v.mean_uGy_h:.4g}",
                f"{v.net_uGy_h:.4g}{flag}",
                f"{v.normalised_uGy_h:.4g}",
            )
        self.console.print(table)
        verdict = p.verdict
        colour = "bold green" if verdict == "pass" else "bold red"
        e = p.effective_uSv_h
        factor = p.design_attenuation_factor
        if factor:
            self.console.print(
                f"E measured = {p.effective_measured_uSv_h:.4g} uSv/h, K = {factor['value']:g}"
                f" ({factor['source']}), App. 14 p.25",
                markup=False,
            )
        self.console.print(
            f"E = {e:.4g} uSv/h   limit {p.limit_uSv_h:g} uSv/h   ratio {p.ratio:.3f}   [{colour}]{verdict.upper()}[/]"
        )
