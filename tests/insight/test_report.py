"""The study report: every section for single-, multi-objective and pruned/failed studies, the
notes when a section cannot apply, PNGs, and the HTML rendered in real headless Chromium."""

from __future__ import annotations

import logging
import re
import struct
import zlib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from chromium import CHROMIUM, load_page
from helpers import load, swept_study
from hydratune.insight.report import write_report
from hydratune.insight.report.model import objectives_of
from hydratune.insight.report.sections import build_sections
from hydratune.steering import write_action

# Learning curves the median pruner can stop, and trials with a large x that raise.
PRUNING = [
    "curve_steps=5",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=3",
    "fail_when_x_above=4",
    "hydra.sweeper.max_failure_rate=1.0",
]


def two_objectives(cfg) -> list[float]:
    return [float((cfg.x - 1) ** 2), float(cfg.y)]


# One sweep of each kind serves the module's tests, which only read the study.
@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    return swept_study(tmp_path_factory.mktemp("single"), ["hydra.sweeper.n_trials=12"])


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    return swept_study(
        tmp_path_factory.mktemp("multi"),
        ["hydra.sweeper.n_trials=12", "hydra.sweeper.direction=[minimize,maximize]"],
        task=two_objectives,
    )


@pytest.fixture(scope="module")
def pruned_and_failed(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    study = swept_study(tmp_path_factory.mktemp("pruned"), ["hydra.sweeper.n_trials=20", *PRUNING])
    states = {t.state for t in study.trials}
    assert {TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE} <= states  # the premise
    return study


def plot_ids(html: str) -> list[str]:
    return re.findall(r'<div id="plot-([\w-]+)" class="plotly-graph-div"', html)


def section(html: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert match, f"no section {key}"
    return match.group(1)


def test_single_objective_report_has_each_section_and_notes_what_cannot_apply(single, tmp_path):
    files = write_report(single, tmp_path / "report", "outputs/hydratune.journal", png=False)
    html = files.html.read_text()
    assert (
        plot_ids(html)
        == files.plots
        == [
            "history",
            "importance-fanova",
            "importance-ped_anova",
            "contour",
            "slice",
            "parallel",
            "timeline",
        ]
    )
    # the quadratic task reports no learning curve: the section says so instead of a blank plot
    assert "no trial reported intermediate values" in section(html, "intermediate")
    assert set(files.notes) == {"intermediate"}
    best = single.best_trial
    markdown = files.markdown.read_text()
    assert f"trial #{best.number}: {best.value:.6g}" in markdown
    for heading in (
        "Optimisation history",
        "Hyperparameter importance",
        "Contour",
        "Slice",
        "Parallel coordinates",
        "Intermediate values",
        "Timeline",
        "Trials",
    ):
        assert f"## {heading}" in markdown
    importance = re.findall(r"^\| (x|y|kind) \| ([\d.e-]+) \| ([\d.e-]+) \|$", markdown, re.M)
    assert sorted(name for name, *_ in importance) == ["kind", "x", "y"]
    assert abs(sum(float(fanova) for _, fanova, _ in importance) - 1.0) < 1e-6


def test_top_trials_table_is_sorted_best_first_with_overrides(single, tmp_path):
    files = write_report(single, tmp_path / "report", png=False, top_k=5)
    markdown = files.markdown.read_text()
    table = markdown.split("### Top 5 complete trials, best first")[1].split("\n\n")[1]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    expected = sorted(single.trials, key=lambda t: t.value)[:5]
    assert [row[0].strip("| ") for row in rows] == [f"#{t.number}" for t in expected]
    assert all(" ".join(t.user_attrs["overrides"]) in table for t in expected)


def test_contour_shows_the_two_most_important_parameters(single, tmp_path):
    files = write_report(single, tmp_path / "report", png=False)
    fanova = optuna.importance.get_param_importances(
        single, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    top_two = list(fanova)[:2]
    assert f"over {top_two[0]} and {top_two[1]}" in section(files.html.read_text(), "contour")


def test_multi_objective_report_has_the_pareto_front_and_plots_per_objective(multi, tmp_path):
    files = write_report(multi, tmp_path / "report", png=False, metric_names=["err", "y"])
    assert "pareto" in files.plots and "hypervolume" in files.plots
    for name in ("history", "slice", "parallel", "contour", "importance-fanova"):
        assert {f"{name}-0", f"{name}-1"} <= set(files.plots)
    markdown = files.markdown.read_text()
    assert "err (minimize), y (maximize)" in markdown
    front = {t.number for t in multi.best_trials}
    table = markdown.split("best first")[1]
    rows = [r for r in table.splitlines() if r.startswith("| #")]
    flagged = [int(r.split(" | ")[0][3:]) for r in rows if " | yes | " in r]
    assert set(flagged) == front
    assert rows[: len(front)] == [r for r in rows if " | yes | " in r]  # the front comes first


def test_pruned_and_failed_trials_are_listed_with_their_reasons(pruned_and_failed, tmp_path):
    files = write_report(pruned_and_failed, tmp_path / "report", png=False)
    html = files.html.read_text()
    assert "intermediate" in files.plots
    markdown = files.markdown.read_text()
    stopped = markdown.split("### Pruned and failed trials")[1]
    for trial in pruned_and_failed.trials:
        if trial.state == TrialState.FAIL:
            assert f"| #{trial.number} | fail | RuntimeError: x=" in stopped
        elif trial.state == TrialState.PRUNED:
            reason = trial.user_attrs.get("stopped_reason") or trial.user_attrs["fail_reason"]
            assert f"| #{trial.number} | pruned | {reason} |" in stopped
    counts = {s: sum(t.state == s for t in pruned_and_failed.trials) for s in TrialState}
    assert (
        f"{counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.FAIL]} fail"
    ) in markdown
    assert "complete (blue), pruned (red)" in section(html, "intermediate")


def test_pruned_curves_are_drawn_apart_from_complete_ones(pruned_and_failed):
    from hydratune.insight.report.sections import intermediate_section

    trials = pruned_and_failed.trials
    ((name, fig),) = intermediate_section(pruned_and_failed, trials).figures
    with_curves = [t for t in trials if t.intermediate_values]
    assert len(fig.data) == len(with_curves)
    colours = {trace.name: trace.line.color for trace in fig.data}
    assert colours == {"complete": "#1f77b4", "pruned": "#d62728"}


def test_sections_that_need_more_are_skipped_with_a_visible_note(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=2", "hydra.sweeper.params=null", "x=interval(-5, 5)"])
    files = write_report(load("quadratic", tmp_path), tmp_path / "report", png=False)
    html = files.html.read_text()
    assert "needs at least 2 searched parameters" in section(html, "importance")
    assert "needs 2 searched parameters" in section(html, "contour")
    assert '<p class="note">Skipped:' in section(html, "importance")
    assert {"history", "slice", "parallel", "timeline"} <= set(files.plots)


def test_a_plot_that_raises_costs_its_section_only(single, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no slice today")

    monkeypatch.setattr(optuna.visualization, "plot_slice", broken)
    files = write_report(single, tmp_path / "report", png=False)
    assert files.notes["slice"] == "could not be drawn: ValueError: no slice today"
    assert "slice" not in files.plots and {"history", "parallel", "timeline"} <= set(files.plots)


def test_a_study_without_trials_still_gives_a_report(tmp_path):
    study = optuna.create_study(study_name="empty")
    files = write_report(study, tmp_path / "report", png=False)
    assert files.plots == []
    assert "no complete trial yet" in files.markdown.read_text()


@pytest.mark.chromium
def test_png_figures_are_written_one_per_plot(pruned_and_failed, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    files = write_report(pruned_and_failed, tmp_path / "report")
    assert "png" not in files.notes, files.notes.get("png")
    # the headless browser's start-up chatter stays out of the sweep's log
    assert not [r for r in caplog.records if r.name.split(".")[0] in ("kaleido", "choreographer")]
    assert sorted(files.pngs) == sorted(files.plots)
    for path in files.pngs.values():
        assert png_text(path) == {"Software": "hydratune report"}  # the mark proves it ours
        assert f"]({path.relative_to(files.markdown.parent).as_posix()})" in (
            files.markdown.read_text()
        )
    folder = files.pngs["history"].parent  # rendered elsewhere: nothing else is left there
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.png" for n in files.plots)


@pytest.mark.chromium
def test_figures_a_killed_report_left_without_its_pages_are_its_own_to_replace(single, tmp_path):
    out = tmp_path / "report"
    first = write_report(single, out)
    assert first.pngs, first.notes
    for page in (first.markdown, first.html):  # killed after its figures, before its pages
        page.unlink()
    again = write_report(single, out)
    assert "png" not in again.notes, again.notes.get("png")
    assert again.markdown.read_text().startswith("# hydratune report")
    assert sorted(again.pngs) == sorted(first.pngs)


def png_text(path: Path) -> dict[str, str]:
    """The text chunks of a PNG, every chunk's CRC checked, ending with IEND."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    text, at, kind = {}, 8, b""
    while kind != b"IEND":
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"{path}: {kind} chunk corrupt"
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            text[key.decode()] = value.decode()
        at += 12 + length
    assert at == len(data)
    return text


def test_the_html_report_needs_no_network(single, tmp_path):
    html = write_report(single, tmp_path / "report", png=False).html.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inlined
    assert html.count("Plotly.newPlot") == len(plot_ids(html))


@pytest.mark.chromium
@pytest.mark.parametrize("kind", ["single", "multi", "pruned_and_failed"])
def test_every_plot_renders_in_headless_chromium_without_errors(kind, request, tmp_path):
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} is missing: run `make test` (scripts/install-test-services.sh)"
    )
    study = request.getfixturevalue(kind)
    files = write_report(study, tmp_path / "report", png=False)
    rendered = load_page(
        files.html,
        "Array.from(document.querySelectorAll('.plotly-graph-div'))"
        ".map(d => [d.id, d.querySelectorAll('.main-svg').length])",
        done=lambda plots: bool(plots) and all(n > 0 for _, n in plots),
    )
    assert rendered.errors == []
    assert [plot_id for plot_id, _ in rendered.value] == [f"plot-{p}" for p in files.plots]
    assert all(n > 0 for _, n in rendered.value), rendered.value


@pytest.mark.chromium
def test_a_broken_page_is_caught_by_the_browser_check(tmp_path):
    # The check above is only worth something if it sees errors and missing plots.
    page = tmp_path / "broken.html"
    page.write_text(
        '<div class="plotly-graph-div" id="plot-x"></div>'
        "<script>console.error('boom'); notDefined();</script>"
    )
    rendered = load_page(
        page, "document.querySelectorAll('.main-svg').length", done=lambda n: n > 0, timeout=2
    )
    assert rendered.value == 0
    assert "boom" in rendered.errors[0]
    assert "notDefined" in rendered.errors[1]


def figures(study: optuna.Study) -> dict:
    """The report's figures by name, built as ``write_report`` builds them."""
    sections = build_sections(study, study.get_trials(), objectives_of(study, None))
    return {name: fig for s in sections for name, fig in s.figures}


def test_the_plots_of_the_best_leave_out_a_trial_failed_by_hand():
    """History's best-so-far line and the Pareto front count trials as ``steering.best`` does;
    the study itself keeps the trial COMPLETE."""
    study = optuna.create_study()
    for value in (3.0, 1.0, 2.0):
        study.add_trial(create_trial(value=value))
    assert list(next(t for t in figures(study)["history"].data if t.name == "Best Value").y) == [
        3.0,
        1.0,
        1.0,
    ]  # the premise: #1 is the best
    write_action(study, "fail", {"trial": 1, "reason": "wrong"}, "fail #1: wrong", 3)
    history = figures(study)["history"]
    assert list(next(t for t in history.data if t.name == "Best Value").y) == [3.0, 3.0, 2.0]
    assert study.trials[1].state == TrialState.COMPLETE

    pair = optuna.create_study(directions=["minimize", "minimize"])
    for values in ((1, 1), (2, 2), (3, 0)):
        pair.add_trial(create_trial(values=list(values)))
    write_action(pair, "fail", {"trial": 0, "reason": "wrong"}, "fail #0: wrong", 3)
    front = figures(pair)["pareto"].data[-1]  # Optuna draws the front last
    assert sorted(zip(front.x, front.y, strict=True)) == [
        (2, 2),
        (3, 0),
    ]  # #1 no longer dominated by #0


def test_four_objectives_draw_their_front_one_axis_each():
    study = optuna.create_study(directions=["minimize"] * 3 + ["maximize"])
    for values in ((1, 1, 1, 0), (2, 2, 2, 0), (0, 3, 3, 0), (1, 1, 1, 1)):
        study.add_trial(create_trial(values=list(values)))
    write_action(study, "fail", {"trial": 3, "reason": "wrong"}, "fail #3: wrong", 4)
    (parcoords,) = figures(study)["pareto"].data
    assert [list(d["values"]) for d in parcoords.dimensions] == [[1, 0], [1, 3], [1, 3], [0, 0]]
