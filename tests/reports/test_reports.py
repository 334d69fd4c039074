"""The doctor's reports on hand-built Diagnoses: verdicts, tables, file naming, plots, JSON schema, console."""

from __future__ import annotations

import filecmp
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.diagnose.findings import Comparison, Evidence, Finding, Fix, NotACause, Setting
from recdoc.reports import output_folder, report_names, write_reports
from recdoc.reports.console import print_summary
from recdoc.reports.facts import verdict_sentence
from recdoc.reports.jsonreport import render_json
from recdoc.reports.markdown import render_markdown
from support.diagnoses import findings_diagnosis, healthy_diagnosis, recall_row, unusable_diagnosis
from support.paths import REPO
from support.schema_check import load_schema, validate


# ------------------------------------------------------------------ verdicts and content
def test_verdict_states_count_headline_gap_and_top_cause() -> None:
    sentence = verdict_sentence(findings_diagnosis())
    assert sentence.startswith("2 findings: test Recall@50 6.18% vs the paper's 8.11% (-23.7%)")
    assert "lr-model-mismatch" in sentence


def test_healthy_report_says_so_and_lists_no_findings(tmp_path: Path) -> None:
    written = write_reports(healthy_diagnosis(), out_dir=tmp_path, plots=False)
    text = written[0].read_text(encoding="utf-8")
    verdict = text.split("## Verdict", 1)[1].split("##", 1)[0]
    # 8.05% vs 8.106%: -0.69%, within what reproductions scatter.
    assert "Healthy" in verdict and "8.05% vs the paper's 8.11% (-0.7%)" in verdict
    assert "None: no rule found a cause" in text


def test_unusable_report_gives_the_reason_and_no_plots(tmp_path: Path) -> None:
    written = write_reports(unusable_diagnosis(), out_dir=tmp_path)
    assert [p.name for p in written] == ["report.md", "diagnosis.json"]
    text = written[0].read_text(encoding="utf-8")
    assert "Unusable: this run cannot be judged against the paper: runs/x/train.log:3: no iter: line" in text
    assert "![" not in text


def test_unusable_without_unreadable_parts_says_no_metrics_and_leads_with_the_top_cause() -> None:
    diagnosis = unusable_diagnosis()
    diagnosis.run.unreadable.clear()
    diagnosis.notes = ["assumed from defaults: patience=50", "no evaluation metrics could be read: ..."]
    diagnosis.findings = findings_diagnosis().findings[:1]
    assert verdict_sentence(diagnosis) == ("Unusable: this run cannot be judged against the paper: no evaluation "
                                           "metrics could be read; top finding: lr-model-mismatch "
                                           "(ComiRec-DR trained at lr 0.001)")


def test_metric_table_gaps_and_comparability() -> None:
    text = render_markdown(findings_diagnosis())
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "@50" in line}
    assert "-1.92 pts" in rows["Recall@50"] and "-23.7%" in rows["Recall@50"] and "| yes |" in rows["Recall@50"]
    assert "**no**" in rows["NDCG@50"] and "ndcg-definition" in rows["NDCG@50"] and "master" in rows["NDCG@50"]
    # The hit-rate paper value is unconfirmed: marked, with the footnote.
    assert "17.58% *" in rows["HitRate@50"]
    assert "not confirmed by a second source" in text


def test_findings_are_ranked_with_evidence_and_fix() -> None:
    text = render_markdown(findings_diagnosis())
    first = text.index("### 1. `lr-model-mismatch`")
    second = text.index("### 2. `readout-wiring`")
    assert first < second
    block = text[first:second]
    assert "confidence: **0.80** (high)" in block and "basis: both" in block
    assert "`runs/x/train.log:1`: lr 0.001 in the exp name (learning_rate = 0.001)" in block
    assert "set `learning_rate = 0.005`" in block
    assert "no configuration change repairs this. What to check: check the readout's target input" in text[second:]


def test_not_causes_config_and_run_facts() -> None:
    text = render_markdown(findings_diagnosis())
    not_causes = text.split("## Checked and not a cause", 1)[1].split("\n## ", 1)[0]
    assert "`neg-samples`" in not_causes and "equals the original's 10 x batch 128" in not_causes
    assert "| neg_num | 10 | default (book) |  | 20 (argv) |" in text
    facts = text.split("## The run", 1)[1].split("\n## ", 1)[0]
    assert "Evaluations: 6 (iterations 1000 to 6000)" in facts
    assert "saves of a new best model): 3" in facts
    # The original restores the last strict improvement: 0.05 first reached at 4000 (6000 ties, not better).
    assert "Best iteration: 4000, valid recall 0.050000 (`runs/x/train.log:8`)" in facts
    assert "Stop: early stop at iteration 6000 (`runs/x/train.log:12`)" in facts
    assert "ckpt-3 = 3 saves = 3 improvements, not iteration 3,000 (agrees with the 3 improvements" in facts


def test_engine_facts_are_stated_and_preferred_to_recdoc_reports_own() -> None:
    diagnosis = findings_diagnosis()
    diagnosis.metrics["best_valid"]["iter"] = 233000
    diagnosis.metrics["checkpoints"][0]["meaning"] = "ckpt-3 = 3 saves = 3 improvements, not iteration 3,000"
    diagnosis.metrics["facts"].insert(0, diagnosis.metrics["checkpoints"][0]["meaning"])
    facts = render_markdown(diagnosis).split("## The run", 1)[1].split("\n## ", 1)[0]
    assert "Best iteration: 233000, valid recall 0.050000" in facts
    assert facts.count("ckpt-3 = 3 saves = 3 improvements") == 1  # the engine's wording, stated once
    assert "saved 3 times" not in facts
    assert "  - with patience 1 and test_iter 1000 the last improvement was at about 6000 - 2*1000 = 4000" in facts


def test_without_engine_metrics_the_curve_speaks() -> None:
    diagnosis = findings_diagnosis()
    diagnosis.metrics = {}
    facts = render_markdown(diagnosis).split("## The run", 1)[1].split("\n## ", 1)[0]
    assert "Evaluations: 6 (iterations 1000 to 6000)" in facts and "best model): 3" in facts
    assert "Best iteration: 4000, valid recall 0.050000 (`runs/x/train.log:8`)" in facts
    diagnosis.run.curve = diagnosis.run.curve.iloc[:2]  # the checkpoint now disagrees with the log: said, not hidden
    facts = render_markdown(diagnosis).split("## The run", 1)[1].split("\n## ", 1)[0]
    assert "differs from the 2 improvements counted in the curve" in facts


def test_rerun_commands_are_code_blocks() -> None:
    text = render_markdown(findings_diagnosis())
    assert "```bash\nrecdoc train --dataset book --model_type ComiRec-DR --learning_rate 0.005\n```" in text


# ------------------------------------------------------------------ files
def test_default_folder_is_the_run_folder(tmp_path: Path) -> None:
    log = tmp_path / "run" / "train.log"
    log.parent.mkdir()
    log.write_text("x\n")
    diagnosis = healthy_diagnosis()
    diagnosis.run.paths = [str(log)]
    assert output_folder(diagnosis, None) == log.parent
    diagnosis.run.paths = [str(log.parent)]
    assert output_folder(diagnosis, None) == log.parent


def test_never_overwrites_and_numbers_the_whole_set(tmp_path: Path) -> None:
    first = write_reports(findings_diagnosis(), out_dir=tmp_path)
    assert [p.name for p in first] == ["report.md", "report_loss.png", "report_recall.png", "diagnosis.json"]
    before = (tmp_path / "report.md").read_bytes()
    second = write_reports(healthy_diagnosis(), out_dir=tmp_path)
    assert [p.name for p in second] == ["report-2.md", "report-2_loss.png", "report-2_recall.png", "diagnosis-2.json"]
    assert (tmp_path / "report.md").read_bytes() == before
    assert "](report-2_loss.png)" in (tmp_path / "report-2.md").read_text(encoding="utf-8")
    # A stray file of set 3 (here only its JSON) makes the next analysis skip to set 4.
    (tmp_path / report_names(3)["json"]).write_text("{}")
    third = write_reports(healthy_diagnosis(), out_dir=tmp_path, formats=("md",), plots=False)
    assert [p.name for p in third] == ["report-4.md"]
    # No temp files or staging folders left; only the manifest of what recdoc wrote (what --force may replace).
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".recdoc-written.json"]


def test_no_plots(tmp_path: Path) -> None:
    written = write_reports(findings_diagnosis(), out_dir=tmp_path, plots=False)
    assert [p.name for p in written] == ["report.md", "diagnosis.json"]
    assert "![" not in written[0].read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.png"))


def test_embedded_images_are_relative_and_exist(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    report = write_reports(findings_diagnosis(), out_dir=out)[0]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text(encoding="utf-8"))
    assert len(images) == 2
    for image in images:
        assert not Path(image).is_absolute()
        assert (report.parent / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_output_requests_are_usage_errors(tmp_path: Path) -> None:
    from recdoc.errors import UsageError

    target = tmp_path / "file.md"
    target.write_text("x")
    with pytest.raises(UsageError, match="--out must be a folder"):
        write_reports(healthy_diagnosis(), out_dir=target)
    with pytest.raises(UsageError, match="report formats are md, json; got html"):
        write_reports(healthy_diagnosis(), out_dir=tmp_path, formats=("html",))
    assert list(tmp_path.iterdir()) == [target]


# ------------------------------------------------------------------ JSON
def test_json_validates_against_the_documented_schema(tmp_path: Path) -> None:
    path = write_reports(findings_diagnosis(), out_dir=tmp_path, formats=("json",))[0]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert validate(document) == []
    assert document["verdict"] == "findings"
    assert document["comparisons"][0]["rel_gap"] == pytest.approx((0.061821 - 0.08106) / 0.08106)
    assert document["metrics"]["checkpoints"][0]["save_counter"] == 3
    assert document["findings"][0]["evidence"][0]["ref"] == "runs/x/train.log:1"


def test_json_writes_null_for_non_finite_values() -> None:
    diagnosis = healthy_diagnosis()
    diagnosis.comparisons = [recall_row(float("nan"))]
    document = json.loads(render_json(diagnosis))
    row = document["comparisons"][0]
    assert row["run_value"] is None and row["abs_gap"] is None and row["rel_gap"] is None


def test_schema_check_rejects_drift() -> None:
    document = json.loads(render_json(findings_diagnosis()))
    document["findings"][0]["surprise"] = 1
    document["comparisons"][0]["cutoff"] = "50"
    del document["rerun"]
    problems = validate(document)
    assert "findings[].surprise: not documented" in problems
    assert any(p.startswith("comparisons[].cutoff: str is not") for p in problems)
    assert "rerun: missing" in problems


def test_schema_documents_every_dataclass_field() -> None:
    from dataclasses import fields

    specs = load_schema()
    for prefix, cls in (("findings[].", Finding), ("comparisons[].", Comparison), ("not_causes[].", NotACause),
                        ("config.*.", Setting), ("findings[].fix.", Fix), ("findings[].evidence[].", Evidence)):
        for field in fields(cls):
            assert prefix + field.name in specs, prefix + field.name


# ------------------------------------------------------------------ console
def test_console_plain_text_when_not_a_terminal() -> None:
    stream = io.StringIO()
    print_summary(findings_diagnosis(), [Path("runs/x/report.md")], stream=stream)
    out = stream.getvalue()
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0].startswith("2 findings: test Recall@50 6.18% vs the paper's 8.11% (-23.7%)")
    assert "  lr-model-mismatch [high, confidence 0.80]: ComiRec-DR trained at lr 0.001" in lines
    assert "  test NDCG@50: 4.55% vs 13.52%, -8.97 pts (-66.4%)  [not comparable]" in lines
    assert "  test HitRate@50: 13.32% vs 17.58%*, -4.26 pts (-24.2%)" in lines
    assert lines[-1] == "Written: runs/x/report.md"


def test_console_styles_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    print_summary(findings_diagnosis(), [Path("runs/x/report.md")], stream=stream)
    out = stream.getvalue()
    assert "\x1b[" in out  # styled
    for text in ("2 findings", "lr-model-mismatch", "Against the paper", "-23.7%", "Written: runs/x/report.md"):
        assert text in out, text


# ------------------------------------------------------------------ the incident fixture
def test_make_test79_reproduces_the_committed_fixtures(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "fixtures" / "make_test79.py"), str(tmp_path)], check=True,
                   capture_output=True)
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert produced == sorted([
        Path("test79-dnn/best_model/book_DNN_b128_lr0.001_d64_len20_test79dnn/keras_ckpt/checkpoint"),
        Path("test79-dnn/train.log"),
        Path("test79/best_model/book_ComiRec-DR_b128_lr0.001_d64_len20_test79/keras_ckpt/checkpoint"),
        Path("test79/train.log"),
    ])
    for relative in produced:
        assert filecmp.cmp(tmp_path / relative, REPO / "fixtures" / "runs" / relative, shallow=False), relative


def test_fixture_matches_the_published_figures() -> None:
    folder = REPO / "fixtures" / "runs" / "test79"
    lines = (folder / "train.log").read_text(encoding="utf-8").splitlines()
    iters = [line for line in lines if line.startswith("iter: ")]
    recalls = [float(re.search(r"valid recall: ([0-9.]+)", line)[1]) for line in iters]
    best, improvements, best_iter = 0.0, 0, None
    for line, recall in zip(iters, recalls):
        if recall > best:
            best, improvements, best_iter = recall, improvements + 1, int(line.split(",")[0].split()[1])
    assert (len(iters), improvements, best_iter) == (284, 130, 233000)
    assert iters[-1].startswith("iter: 284000, ")
    assert lines[lines.index(iters[-1]) + 1].startswith("model restored from ")  # early stop: no time interval
    assert lines[-1] == "test recall: 0.061821, test ndcg: 0.045488, test hitrate: 0.133200, test diversity: 0.221127"
    assert math.isclose(float(iters[-1].split("train loss: ")[1].split(",")[0]), 7.34, abs_tol=0.02)
    checkpoint = (folder / "best_model" / "book_ComiRec-DR_b128_lr0.001_d64_len20_test79" / "keras_ckpt"
                  / "checkpoint").read_text(encoding="utf-8")
    assert checkpoint.startswith('model_checkpoint_path: "ckpt-130"\nall_model_checkpoint_paths: "ckpt-130"\n')


def test_reports_never_import_tensorflow() -> None:
    code = ("import sys; sys.path.insert(0, 'tests'); import tempfile\n"
            "from support.diagnoses import findings_diagnosis\n"
            "from recdoc.reports import write_reports\n"
            "write_reports(findings_diagnosis(), out_dir=tempfile.mkdtemp())\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m.split('.')[0] in ('tensorflow', 'keras') or m == 'matplotlib.pyplot'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ charts (matplotlib)
def test_chart_downsampling_keeps_each_buckets_extremes_in_order() -> None:
    import numpy as np

    from recdoc.reports.chart import downsample

    xs = np.arange(10, dtype=float)
    ys = np.array([3, 5, 1, 4, 9, 2, 2, 0, 7, 6], dtype=float)
    small_x, small_y = downsample(xs, ys, 4)  # 2 buckets of 5: min and max of each, in x order
    assert small_x.tolist() == [2, 4, 7, 8] and small_y.tolist() == [1, 9, 0, 7]
    same_x, _ = downsample(xs, ys, 10)
    assert same_x is xs


def test_plots_draw_the_curve_the_best_point_and_the_paper_line(tmp_path: Path) -> None:
    from PIL import Image

    written = write_reports(findings_diagnosis(), out_dir=tmp_path, formats=("md",))
    recall_png = next(p for p in written if p.name.endswith("_recall.png"))
    with Image.open(recall_png) as image:
        assert image.size == (630, 288) and image.format == "PNG"
        colors = {pixel for _, pixel in image.convert("RGB").getcolors(maxcolors=1 << 20)}

    def drawn(rgb: tuple[int, int, int]) -> bool:  # anti-aliased lines: a pixel close to the colour is enough
        return any(sum(abs(a - b) for a, b in zip(pixel, rgb)) <= 60 for pixel in colors)

    assert drawn((31, 119, 180))  # the curve
    assert drawn((214, 39, 40))  # the best point
    assert drawn((44, 160, 44))  # the paper's value
    assert not drawn((255, 0, 255))  # and not any colour at all


@pytest.mark.parametrize("plots", [True, False])
def test_analyze_on_a_log_never_imports_tensorflow_and_matplotlib_only_to_plot(tmp_path: Path, plots: bool) -> None:
    log = tmp_path / "train.log"
    lines = ["book_ComiRec-SA_b128_lr0.001_d64_len20_x"]
    for index in range(1, 8):
        lines += [f"iter: {index * 1000}, train loss: {8 - index * 0.1:.4f}, valid recall: {0.01 * index:.6f}, "
                  f"valid ndcg: {0.008 * index:.6f}, valid hitrate: {0.02 * index:.6f}", "time interval: 1.0 min"]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    flag = "--plots" if plots else "--no-plots"
    code = ("import sys\nfrom recdoc.cli import main\n"
            f"sys.argv = ['recdoc', 'analyze', {str(log)!r}, '--out', {str(tmp_path / 'out')!r}, {flag!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}"
            " | ({'pyplot'} if 'matplotlib.pyplot' in sys.modules else set())))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    imported = result.stdout.strip().splitlines()[-1]
    # Never TensorFlow or pyplot; matplotlib only to plot (and then usually in the chart helper, not here).
    assert imported in (("['matplotlib']", "[]") if plots else ("[]",))
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == (["report_loss.png", "report_recall.png"] if plots else [])


CHART_SCRIPT = """
import sys
from recdoc.reports import chart_process
assert chart_process.start(), "a fresh single-threaded process may fork the helper"
from recdoc.reports.chart import LineChart
chart = LineChart(size=(300, 200), title="t", xlabel="iteration", ylabel="recall")
chart.line([0, 1000, 2000], [0.01, 0.03, 0.02], color="#1f77b4", label="valid")
chart.hline(0.025, color="#2ca02c", label="paper")
if sys.argv[1] == "kill":
    chart_process._helper[0].kill()
    chart_process._helper[0].join()
drawn = chart_process.render(chart)
print("helper" if chart_process._helper is not None else "here", drawn == chart.png_bytes(), drawn[:4] == b"\\x89PNG")
chart_process.stop()
"""


@pytest.mark.parametrize("helper", ["alive", "kill"])
def test_the_chart_helper_draws_the_same_png_and_a_dead_one_falls_back(helper: str) -> None:
    result = subprocess.run([sys.executable, "-c", CHART_SCRIPT, helper], cwd=REPO, capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.split() == ["helper" if helper == "alive" else "here", "True", "True"]


def test_recdoc_analyze_starts_the_chart_helper_before_numpy(tmp_path: Path) -> None:
    """The helper must be forked before anything imports numpy (its threads make forking unsafe, so `start`
    would refuse and the charts be drawn after the analysis, losing the overlap the speed target relies on)."""
    code = ("import sys\nfrom recdoc.reports import chart_process\nstart = chart_process.start\n"
            "def recorded():\n    started = start()\n    print('helper', started)\n    return started\n"
            "chart_process.start = recorded\nfrom recdoc.cli import main\n"
            f"sys.argv = ['recdoc', 'analyze', {str(REPO / 'fixtures' / 'runs' / 'test79')!r}, '--out', "
            f"{str(tmp_path)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "helper True" in result.stdout, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["report_loss.png", "report_recall.png"]


def test_no_chart_helper_is_forked_from_a_threaded_process() -> None:
    import threading

    from recdoc.reports import chart_process

    release = threading.Event()
    waiting = threading.Thread(target=release.wait)
    waiting.start()
    try:
        assert not chart_process._fork_is_safe()  # a lock held by that thread would stay held in the child
    finally:
        release.set()
        waiting.join()


# ------------------------------------------------------------------ --fail-on
def test_fail_on_counts_a_finding_at_the_lower_of_its_severity_and_confidence() -> None:
    from dataclasses import replace

    from recdoc.reports.console import analyze_exit_code, finding_level, summary_lines

    diagnosis = findings_diagnosis()
    weak_prior = replace(diagnosis.findings[0], severity="high", confidence=0.14)
    assert finding_level(weak_prior) == "low"
    weak = replace(diagnosis, findings=[weak_prior])
    assert analyze_exit_code(weak, "medium") == 0 and analyze_exit_code(weak, "low") == 1
    text = [line for line, _ in summary_lines(weak, [], "medium")]
    assert f"Below --fail-on medium (reported, not failing the exit code): {weak_prior.id} (low)" in text
    assert analyze_exit_code(replace(diagnosis, verdict="unusable"), "high") == 2


def test_analyze_fail_on_high_on_the_incident(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(REPO / "fixtures" / "runs" / "test79"),
                             "--no-plots", "--out", str(tmp_path), "--fail-on", "high"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stderr  # lr-model-mismatch: high severity at confidence 0.85
    assert "Below --fail-on high (reported, not failing the exit code): ndcg-definition (medium)" in result.stdout


def test_report_text_does_not_repeat_itself(tmp_path: Path) -> None:
    """One statement per fact: no value echoed after the sentence that states it, a checkpoint's problem under the
    checkpoint only (not again in the notes), the configuration's source file named once."""
    result = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(REPO / "fixtures" / "runs" / "test79"),
                             "--no-plots", "--out", str(tmp_path), "--format", "md"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stderr
    text = (tmp_path / "report.md").read_text()
    assert "learning_rate = 0.001 (exp name) (learning_rate = 0.001)" not in text
    assert "learning_rate = 0.001 (exp name)" in text
    assert text.count("ckpt-130.index or its .data-* file is missing") == 1
    config = text.split("## Inferred configuration")[1].split("## ")[0]
    assert config.count("fixtures/runs/test79/train.log:12") == 1


# ------------------------------------------------------------------ read coverage (issue 16 item 3)
def _covered_diagnosis(used: int, total: int, unread: int = 2):
    from recdoc.diagnose.observed_run import ReadCoverage, SourceRef

    diagnosis = findings_diagnosis()
    lines = [(SourceRef("runs/x/train.log", 40 + i), f"iter: {i}, valid recall[@10]: 0.07|x") for i in range(unread)]
    diagnosis.run.coverage = ReadCoverage(total, used, lines, unread)
    return diagnosis


def test_read_coverage_is_in_the_report_and_the_json() -> None:
    diagnosis = _covered_diagnosis(used=30, total=90)
    text = render_markdown(diagnosis)
    section = text.split("## Read coverage", 1)[1].split("\n## ", 1)[0]
    assert "30 of 90 lines with numbers were used (33%)" in section
    assert "2 line(s) with metric-like names were not understood" in section
    assert "`runs/x/train.log:40`" in section and "valid recall[@10]" in section
    document = json.loads(render_json(diagnosis))
    assert validate(document) == []
    coverage = document["run"]["coverage"]
    assert coverage["lines_used"] == 30 and coverage["unread_metric_count"] == 2
    assert coverage["unread_metric_lines"][0]["ref"] == "runs/x/train.log:40"
    # Not measured: no section (a reader that does not count lines says nothing false).
    assert "## Read coverage" not in render_markdown(findings_diagnosis())


def test_low_coverage_caps_fault_findings_and_says_why() -> None:
    from recdoc.diagnose.engine import analyze_run
    from recdoc.diagnose.observed_run import Event, ReadCoverage, SourceRef
    from support.diagnose_factory import make_run as factory_run

    printed = Event("nan", SourceRef("train.log", 92), "iter: 30000, train loss: nan")
    run = factory_run(exp_name="book_ComiRec-DR_b128_lr0.005_d64_len20_x", recalls=[0.01 * (1 + i / 30)
                      for i in range(30)], stop_reason="nan", events=[printed])
    assert analyze_run(run, {}, []).finding("divergence").confidence > 0.6
    run.coverage = ReadCoverage(400, 40, [], 300)
    diagnosis = analyze_run(run, {}, [])
    assert diagnosis.finding("divergence").confidence == 0.6
    assert any("40 of 400 lines with numbers were used" in note and "divergence" in note for note in diagnosis.notes)
    assert "fault findings are capped at confidence 0.6" in render_markdown(diagnosis)


def test_a_max_iter_fix_says_its_unit() -> None:
    """The original's max_iter counts thousands of iterations: a proposed value never stands without that unit."""
    from recdoc.diagnose.findings import Finding, Fix
    from recdoc.reports.markdown import _finding

    finding = Finding(id="undertrained", title="stopped at iter 2000 while rising", severity="medium",
                      confidence=0.8, basis="evidence", evidence=(),
                      fix=Fix({"max_iter": 4, "patience": 20}, "a curve that levels off"))
    fix_line = next(line for line in _finding(1, finding) if line.startswith("- Fix:"))
    assert "`max_iter = 4` (x1000 iterations), `patience = 20`" in fix_line
