"""The interest probe: its statistics on hand-built interests with known answers, the interest rules on hand-built
probe results, probe.json handling, and `recdoc probe` on a tiny trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recdoc.diagnose.findings import Finding, NotACause
from recdoc.diagnose.rules import RULES
from recdoc.diagnose.rules.interests import judge_probe
from recdoc.errors import InputError, UsageError
from recdoc.instruments.probe.files import latest_probe_file, read_probe, write_probe
from recdoc.instruments.probe.restore import locate
from recdoc.instruments.probe.tally import InterestTally
from recdoc.thresholds import InterestThresholds

# ---------------------------------------------------------------- hand-built interests
# Items 1-4 lie along axis 0 (strength 1.0, 0.9, 0.8, 0.7), items 5-8 along axis 1 (0.95, 0.85, 0.75, 0.65);
# row 0 (padding) is zero. Nothing lies along axes 2 and 3.
TABLE = np.zeros((9, 4))
TABLE[1:5, 0] = [1.0, 0.9, 0.8, 0.7]
TABLE[5:9, 1] = [0.95, 0.85, 0.75, 0.65]
AXES = np.eye(4)
# User A: interests 0 and 1 identical (axis 0), interest 2 along axis 1, interest 3 a zero vector.
USER_A = np.stack([AXES[0], AXES[0], AXES[1], np.zeros(4)])
# User B: four orthogonal interests; 2 and 3 point where no item lies.
USER_B = AXES.copy()


def own_lists(interests: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-interest top-n over TABLE (row 0 included); ties go to the lower item id."""
    scores = np.einsum("bkd,id->bki", interests, TABLE)
    ids = np.argsort(-scores, axis=2, kind="stable")[:, :, :n]
    return ids, np.take_along_axis(scores, ids, axis=2)


def tally_of(users: list[np.ndarray], targets: list[list[int]], top_n: int = 4) -> InterestTally:
    interests = np.stack(users)
    ids, scores = own_lists(interests, top_n)
    tally = InterestTally(num_interest=4, top_n=top_n)
    tally.add(interests, TABLE, ids, scores, [np.asarray(t) for t in targets])
    return tally


def test_statistics_on_two_hand_built_users() -> None:
    # Both users' merged top-4 is [1, 5, 2, 6]. A: items 1, 2 go to interest 0 (tied with its copy 1: the lower
    # index wins), 5, 6 to interest 2. B: 1, 2 to interest 0, 5, 6 to interest 1.
    result = tally_of([USER_A, USER_B], [[1, 5, 5], [2, 6]]).result()
    rows = result["interests"]
    assert result["users"] == 2 and result["retrieved_items"] == 8 and result["hits"] == 4 and result["targets"] == 5
    assert [r["retrieved_share"] for r in rows] == pytest.approx([0.5, 0.25, 0.25, 0.0])
    assert [r["hit_share"] for r in rows] == pytest.approx([0.5, 0.25, 0.25, 0.0])  # hits: A 1, 5; B 2, 6
    # Readout for A's targets 1, 5, 5 -> interests 0, 2, 2; for B's 2, 6 -> 0, 1.
    assert [r["readout_win_share"] for r in rows] == pytest.approx([0.4, 0.2, 0.4, 0.0])
    assert [r["norm_mean"] for r in rows] == pytest.approx([1.0, 1.0, 1.0, 0.5])
    assert [r["near_zero_share"] for r in rows] == pytest.approx([0.0, 0.0, 0.0, 0.5])
    cosine = result["cosine"]
    assert cosine["pair_mean"][0][1] == pytest.approx(0.5)  # 1 for A, 0 for B
    assert cosine["pair_above_share"][0][1] == pytest.approx(0.5)
    assert cosine["mean"] == pytest.approx((1 / 6 + 0) / 2)
    assert cosine["all_pairs_above_share"] == 0.0
    # Own top-4 lists: A [1-4], [1-4], [5-8], [0-3] (a zero vector ties everywhere); B [1-4], [5-8], [0-3], [0-3].
    overlap = result["overlap"]
    assert overlap["pair_mean"][0][1] == pytest.approx(0.5)
    assert overlap["pair_mean"][0][3] == pytest.approx(0.75)
    assert overlap["pair_mean"][2][3] == pytest.approx(0.5)
    assert overlap["mean"] == pytest.approx((2.5 / 6 + 2.5 / 6) / 2)


def test_identical_interests_collapse_and_a_zero_interest_is_dead() -> None:
    users = 30
    result = tally_of([USER_A] * users, [[1, 5, 5]] * users).result()
    assert result["cosine"]["pair_above_share"][0][1] == 1.0
    outcomes = {o.id: o for o in judge_probe(result, "probe.json")}
    collapse, dead = outcomes["interest-collapse"], outcomes["dead-interest"]
    assert isinstance(collapse, Finding) and collapse.severity == "medium"
    assert collapse.title == "1 pair(s) of interests collapsed: about 3 distinct interests of 4"
    assert "interests 0 and 1: cosine above 0.95 for 100.0% of users" in collapse.evidence[0].text
    assert isinstance(dead, Finding)
    # Interest 1 (the copy) is credited nothing; interest 3 (zero vector) is also near zero for every user.
    assert dead.title == "2 of 4 interests are dead (interest 1, 3)"
    assert dead.severity == "high" and dead.confidence == InterestThresholds.CONFIDENCE
    assert "is near zero for 100.0% of users" in dead.evidence[1].text
    assert str(dead.evidence[0].ref) == "probe.json"


def test_orthogonal_interests_do_not_collapse_but_those_without_items_are_dead() -> None:
    users = 30
    result = tally_of([USER_B] * users, [[1, 5, 2, 6]] * users).result()
    assert result["cosine"]["mean"] == 0.0
    outcomes = {o.id: o for o in judge_probe(result)}
    assert isinstance(outcomes["interest-collapse"], NotACause)
    # Interests 2 and 3 point where no item lies: they never win and retrieve nothing.
    assert isinstance(outcomes["dead-interest"], Finding)
    assert outcomes["dead-interest"].title == "2 of 4 interests are dead (interest 2, 3)"


def test_a_single_interest_model_is_refused() -> None:
    with pytest.raises(UsageError, match="multi-interest"):
        InterestTally(num_interest=1, top_n=50)


def test_mismatched_shapes_are_refused() -> None:
    tally = InterestTally(num_interest=4, top_n=4)
    ids, scores = own_lists(np.stack([USER_A]), 4)
    with pytest.raises(ValueError, match="do not match"):
        tally.add(np.stack([USER_A, USER_B]), TABLE, ids, scores, [np.array([1]), np.array([2])])


# ---------------------------------------------------------------- rules on hand-built probe results
def probe(users: int = 94, k: int = 4, wins: list[float] | None = None, retrieved: list[float] | None = None,
          near_zero: list[float] | None = None, cosine_mean: float = 0.1, all_above: float = 0.0,
          above: dict[tuple[int, int], float] | None = None, overlap: float = 0.09, targets: int = 2000,
          top_n: int = 50) -> dict[str, Any]:
    fair = [1.0 / k] * k
    above_matrix = [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]
    for (i, j), share in (above or {}).items():
        above_matrix[i][j] = above_matrix[j][i] = share
    return {
        "schema": "recdoc-probe/1", "split": "valid", "users": users, "top_n": top_n, "num_interest": k,
        "retrieved_items": users * top_n, "hits": 400, "targets": targets,
        "interests": [{"index": i, "retrieved_share": (retrieved or fair)[i], "hit_share": fair[i],
                       "readout_win_share": (wins or fair)[i], "norm_mean": 1.0,
                       "near_zero_share": (near_zero or [0.0] * k)[i]} for i in range(k)],
        "cosine": {"threshold": 0.95, "mean": cosine_mean, "all_pairs_above_share": all_above,
                   "pair_mean": [[cosine_mean] * k for _ in range(k)], "pair_above_share": above_matrix},
        "overlap": {"mean": overlap, "pair_mean": [[overlap] * k for _ in range(k)]},
    }


def outcome(rule_id: str, data: dict[str, Any]) -> Finding | NotACause | None:
    return next((o for o in judge_probe(data) if o.id == rule_id), None)


def test_healthy_probe_clears_both_rules() -> None:
    collapse, dead = outcome("interest-collapse", probe()), outcome("dead-interest", probe())
    assert isinstance(collapse, NotACause) and "share 9.0% of their top-50" in collapse.reason
    assert isinstance(dead, NotACause) and "at least 2.5%" in dead.reason


def test_full_collapse_is_high() -> None:
    pairs = {(i, j): 0.9 for i in range(4) for j in range(i + 1, 4)}
    finding = outcome("interest-collapse", probe(cosine_mean=0.97, all_above=0.8, above=pairs))
    assert isinstance(finding, Finding)
    assert finding.severity == "high" and finding.title == "all 4 interests collapsed into one"
    assert len(finding.evidence) == 7  # six pairs and the summary


def test_overlapping_interests_short_of_identical_are_a_medium_finding() -> None:
    finding = outcome("interest-collapse", probe(cosine_mean=0.675, overlap=0.594))
    assert isinstance(finding, Finding) and finding.severity == "medium"
    assert finding.confidence == InterestThresholds.CONFIDENCE_OVERLAP
    assert finding.title == "the 4 interests overlap: two interests share 59% of their top-50 on average"
    assert isinstance(outcome("interest-collapse", probe(overlap=0.5)), NotACause)  # the line itself is not over


def test_an_interest_that_never_wins_is_dead() -> None:
    finding = outcome("dead-interest", probe(wins=[0.4, 0.35, 0.24, 0.01]))
    assert isinstance(finding, Finding)
    assert finding.title == "1 of 4 interests are dead (interest 3)"
    assert finding.severity == "medium" and finding.confidence == InterestThresholds.CONFIDENCE
    assert finding.evidence[0].values["readout_win_share"] == 0.01


def test_retrieval_share_alone_is_a_low_finding() -> None:
    finding = outcome("dead-interest", probe(retrieved=[0.38, 0.4, 0.206, 0.014]))
    assert isinstance(finding, Finding)
    assert finding.severity == "low" and finding.confidence == InterestThresholds.CONFIDENCE_RETRIEVAL_ONLY
    assert finding.title == "1 of 4 interests barely retrieve (interest 3)"


def test_the_dead_line_scales_with_k() -> None:
    # K = 8: fair 12.5%, line 1.25%; 2% wins is alive at K = 8 though it would be dead at K = 4.
    wins = [0.2, 0.2, 0.2, 0.18, 0.1, 0.05, 0.05, 0.02]
    assert isinstance(outcome("dead-interest", probe(k=8, wins=wins, retrieved=wins)), NotACause)
    assert isinstance(outcome("dead-interest", probe(k=4, wins=[0.5, 0.3, 0.18, 0.02])), Finding)


def test_too_little_evidence_judges_nothing() -> None:
    assert judge_probe(probe(users=InterestThresholds.MIN_USERS - 1)) == []
    # 60 targets over 4 interests (15 expected each) is too few to call a zero share: wins are not judged,
    # the retrieved share (94 * 50 items) still is.
    assert isinstance(outcome("dead-interest", probe(wins=[0.5, 0.5, 0.0, 0.0], targets=60)), NotACause)


def test_rules_are_registered_documented_and_read_the_probe_from_the_run() -> None:
    from recdoc.diagnose.engine import analyze_run
    from recdoc.diagnose.observed_run import Fact, Run, SourceRef

    for rule_id in ("interest-collapse", "dead-interest"):
        doc = RULES[rule_id].documentation()
        assert all(s in doc for s in ("What it checks:", "Why it matters:", "Evidence it cites:", "Fix:"))
    run = Run(format="recdoc", paths=["run.json"],
              declared={"model_type": Fact("ComiRec-DR", SourceRef("run.json")),
                        "dataset": Fact("ml100k", SourceRef("run.json"))})
    assert not any(f.id in {"interest-collapse", "dead-interest"} for f in analyze_run(run).findings)
    run.extra_metrics["probe"] = probe(wins=[0.5, 0.49, 0.01, 0.0], cosine_mean=0.7, overlap=0.6)
    run.extra_metrics["probe_ref"] = "runs/x/probe.json"
    diagnosis = analyze_run(run)
    dead = diagnosis.finding("dead-interest")
    assert dead is not None and dead.title == "2 of 4 interests are dead (interest 2, 3)"
    assert str(dead.evidence[0].ref) == "runs/x/probe.json"
    assert diagnosis.finding("interest-collapse") is not None


# ---------------------------------------------------------------- probe.json and the run folder
def test_probe_json_is_never_overwritten(tmp_path: Path) -> None:
    first = write_probe(probe(users=10), tmp_path)
    second = write_probe(probe(users=20), tmp_path)
    assert (first.name, second.name) == ("probe.json", "probe-2.json")
    assert read_probe(first)["users"] == 10 and read_probe(second)["users"] == 20
    assert not list(tmp_path.glob(".probe.*"))  # no temporary file left behind
    assert latest_probe_file(tmp_path) in (first, second)


def test_a_foreign_json_is_not_read_as_a_probe(tmp_path: Path) -> None:
    path = tmp_path / "probe.json"
    path.write_text(json.dumps({"users": 3}))
    with pytest.raises(InputError, match="not a recdoc-probe/1 file"):
        read_probe(path)


def test_locate_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no run.json"):
        locate(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"dataset": "syn"}}))
    with pytest.raises(InputError, match="no best checkpoint"):
        locate(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read run.json"):
        locate(tmp_path)


# ---------------------------------------------------------------- a real (tiny) run
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recdoc.config import RunConfig
    from recdoc.trainer.data.synth import synthesize
    from recdoc.trainer.loop import train

    root = tmp_path_factory.mktemp("probe")
    synthesize("tiny", items=300, users=300, interests=4, seed=3, data_dir=str(root / "data"))
    # Small enough to train in seconds: patience 0 stops at the first evaluation that does not improve.
    config = RunConfig.for_dataset("tiny", model_type="ComiRec-DR", learning_rate=0.01, batch_size=32, neg_num=2,
                                   maxlen=10, embedding_dim=16, hidden_size=16, topN=20, metrics_at=(20,),
                                   test_iter=100, max_iter=1, patience=0, data_dir=str(root / "data"),
                                   runs_dir=str(root / "runs"), exp="probe")
    return train(config)


@pytest.mark.slow
def test_probe_command_on_a_tiny_trained_run(tiny_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from recdoc.cli import app
    from recdoc.reports.console import failing

    result = CliRunner().invoke(app, ["probe", str(tiny_run), "--out", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    written = tmp_path / "probe.json"
    data = read_probe(written)
    valid_users = len((tiny_run.parent.parent / "data" / "tiny_data" / "tiny_valid.txt").read_text().splitlines())
    assert data["users"] == data["users_in_split"] and 0 < data["users"] <= valid_users
    assert data["num_interest"] == 4 and data["top_n"] == 20
    assert data["retrieved_items"] == data["users"] * 20
    assert sum(r["retrieved_share"] for r in data["interests"]) == pytest.approx(1.0)
    assert sum(r["readout_win_share"] for r in data["interests"]) == pytest.approx(1.0)
    assert data["checkpoint"].endswith(json.loads((tiny_run / "run.json").read_text())["exp_name"] + "/ckpt/best/"
                                       + Path(data["checkpoint"]).name)
    assert "interest health" in result.output and f"Probe: {written}" in result.output
    # The exit code follows the findings; a second probe goes beside the first, never over it.
    findings = [o for o in judge_probe(data) if isinstance(o, Finding)]
    assert result.exit_code == (1 if failing(findings, "medium") else 0)  # --fail-on's default
    again = CliRunner().invoke(app, ["probe", str(tiny_run), "--out", str(tmp_path), "--split", "test",
                                     "--max_users", "5"])
    assert again.exit_code in (0, 1), again.output
    second = read_probe(tmp_path / "probe-2.json")
    assert second["split"] == "test" and second["users"] == 5
    assert read_probe(written)["split"] == "valid"
    bad = CliRunner().invoke(app, ["probe", str(tiny_run), "--split", "train"])
    assert bad.exit_code == 2  # a usage error: --split lists valid and test (test_cli_errors checks the line)


@pytest.mark.slow
def test_the_testing_switch_feeds_item_zero_to_the_readout(tiny_run: Path) -> None:
    import tensorflow as tf

    from recdoc.instruments.probe.restore import locate, restore_model
    from recdoc.trainer.data.dataset import load_dataset

    target = locate(tiny_run)
    model = restore_model(target, load_dataset(str(target.data_dir), "tiny").item_count)
    interests = tf.constant(np.random.default_rng(0).normal(size=(6, 4, 16)), dtype=tf.float32)
    targets = tf.constant([1, 2, 3, 4, 5, 6], dtype=tf.int32)
    honest = model.readout(interests, targets).numpy()
    model.testing_readout_fed_item_zero = True
    faulty = model.readout(interests, targets).numpy()
    np.testing.assert_array_equal(faulty, model.readout(interests, tf.zeros_like(targets)).numpy())
    model.testing_readout_fed_item_zero = False
    np.testing.assert_array_equal(honest, model.readout(interests, targets).numpy())
    assert not np.array_equal(honest, faulty)


@pytest.mark.slow
def test_a_single_interest_run_is_refused_before_any_work(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from recdoc.instruments.probe.measure import probe_run

    copy = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, copy)
    record = json.loads((copy / "run.json").read_text())
    record["config"].update(model_type="DNN", num_interest=1, data_dir=str(tiny_run.parent.parent / "data"))
    (copy / "run.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="DNN with 1 interest"):
        probe_run(copy)


@pytest.mark.slow
def test_analyze_deep_brings_the_probe_into_the_diagnosis(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from recdoc.diagnose.engine import analyze_paths

    copy = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, copy)
    assert latest_probe_file(copy) is None
    probed_now = analyze_paths([str(copy)], deep=True).run
    assert probed_now.extra_metrics["probe_ref"] == f"{copy} (probed by --deep)"
    assert probed_now.extra_metrics["probe"]["split"] == "valid"
    assert latest_probe_file(copy) is None  # the doctor writes nothing into the run folder
    stored = dict(probed_now.extra_metrics["probe"], users=21)
    written = write_probe(stored, copy)
    from_file = analyze_paths([str(copy)], deep=True).run
    assert from_file.extra_metrics["probe_ref"] == str(written) and from_file.extra_metrics["probe"]["users"] == 21
    assert "probe" not in analyze_paths([str(copy)]).run.extra_metrics  # without --deep nothing is probed


@pytest.mark.slow
def test_analyze_deep_notes_a_probe_that_cannot_run(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from recdoc.diagnose.engine import analyze_paths

    copy = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, copy)
    record = json.loads((copy / "run.json").read_text())
    record["config"]["data_dir"] = str(tmp_path / "gone")
    (copy / "run.json").write_text(json.dumps(record))
    diagnosis = analyze_paths([str(copy)], deep=True)
    assert "probe" not in diagnosis.run.extra_metrics
    assert any("interest probe not run (" in note and "cannot find tiny_data/" in note for note in diagnosis.notes)


def test_a_collapsed_probe_makes_wiring_suspect_strong_even_on_small_data() -> None:
    from recdoc.diagnose.engine import analyze_run
    from recdoc.diagnose.observed_run import Fact, Run, SourceRef

    run = Run(format="recdoc", paths=["run.json"],
              declared={"model_type": Fact("ComiRec-DR", SourceRef("run.json")),
                        "dataset": Fact("ml100k", SourceRef("run.json"))})
    assert analyze_run(run).finding("wiring-suspect") is None
    # What bench/probe_proof.py measured for a readout fed item 0: interests overlapping, none dead.
    run.extra_metrics["probe"] = probe(cosine_mean=0.72, overlap=0.61)
    run.extra_metrics["probe_ref"] = "runs/x/probe.json"
    wiring = analyze_run(run).finding("wiring-suspect")
    assert wiring is not None and wiring.severity == "high" and wiring.basis == "both"
    assert wiring.fix is not None and not wiring.fix.applicable
    assert any(e.values.get("probe_finding") == "interest-collapse" and str(e.ref) == "runs/x/probe.json"
               for e in wiring.evidence)
    run.extra_metrics["probe"] = probe()  # healthy interests: no wiring evidence from the probe
    assert analyze_run(run).finding("wiring-suspect") is None


@pytest.mark.parametrize("terminal", [False, True])
def test_the_probe_table_keeps_one_line_per_interest_on_80_columns_and_off_a_terminal(terminal: bool,
                                                                                     monkeypatch) -> None:
    import io
    import re

    from recdoc.instruments.probe.render import print_probe

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    monkeypatch.setenv("COLUMNS", "80")
    result = {**tally_of([USER_A, USER_B], [[1, 5, 5], [2, 6]]).result(), "exp_name": "book_ComiRec-DR_b128_lr0.005"
              "_d64_len20_a_long_experiment_name", "split": "valid"}
    stream = Terminal()
    print_probe(result, [], Path("/a/long/run/folder/book_ComiRec-DR_b128_lr0.005_d64_len20_x/probe.json"),
                stream=stream)
    text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
    rows = [line for line in text.splitlines() if re.match(r"^\s+\d\s+[\d.]+%", line)]
    assert len(rows) == 4, text  # one line each: no row wrapped
    assert "Probe: /a/long/run/folder/book_ComiRec-DR_b128_lr0.005_d64_len20_x/probe.json" in text  # path whole
    if terminal:
        assert max(len(line) for line in text.splitlines() if not line.startswith("Probe: ")) <= 80
