"""Composing the corrected configuration from a diagnosis: order, conflicts, --only/--skip, set-aside, names."""

from __future__ import annotations

import dataclasses

import pytest

from recdoc.config import sampling_that_fits
from recdoc.diagnose.engine import analyze_run
from recdoc.diagnose.findings import Diagnosis, Evidence, Finding, Fix, Setting
from recdoc.diagnose.fixes import compose_plan, disagreement_notes, fix_run_exp
from recdoc.errors import UsageError
from support.diagnose_factory import incident_run


def finding(finding_id: str, changes: dict, severity: str = "high", confidence: float = 0.8,
            applicable: bool = True, how: str = "") -> Finding:
    return Finding(id=finding_id, title=f"{finding_id} title", severity=severity, confidence=confidence,
                   basis="evidence", evidence=(Evidence("seen"),),
                   fix=Fix(changes, "better", how=how, applicable=applicable))


def incident_with(findings: list[Finding]) -> Diagnosis:
    """The incident's configuration (book, DR, lr 0.001, patience 50, ndcg master) with hand-built findings."""
    return dataclasses.replace(analyze_run(incident_run()), findings=findings)


def test_incident_plan_raises_lr_to_the_readme_value_and_keeps_the_original_command() -> None:
    plan = compose_plan(analyze_run(incident_run()))
    assert plan.diff_lines() == ["learning_rate: 0.001 -> 0.005  (lr-model-mismatch)",
                                 "ndcg: 'master' -> 'paper'  (ndcg-definition)"]
    assert plan.old_config.learning_rate == 0.001 and plan.new_config.learning_rate == 0.005
    assert plan.new_config.ndcg == "paper" and plan.new_config.patience == 50
    assert plan.run_name == "book_ComiRec-DR_b128_lr0.005_d64_len20_test79_fix1"
    command, needs = plan.recdoc_command.split("\n")  # the data is not on this machine: what it needs first
    assert command == "recdoc train --dataset book --model_type ComiRec-DR --learning_rate 0.005 --ndcg paper " \
                      "--exp test79_fix1"
    assert needs.startswith("# needs first: data/book_data/ is not on this machine: get the Amazon Books")
    assert needs.endswith("`recdoc data prepare --source amazon --input reviews_Books_5.json --meta meta_Books.json "
                          "--name book --data_dir data`")
    assert plan.tool_command is not None
    assert plan.tool_command.splitlines()[0] == "python src/train.py --dataset book --model_type ComiRec-DR " \
                                                "--learning_rate 0.005"
    assert plan.applied == ("lr-model-mismatch", "ndcg-definition") and plan.has_fix


def test_two_findings_on_one_key_the_higher_ranked_wins_and_the_plan_says_so() -> None:
    plan = compose_plan(incident_with([finding("oscillation", {"learning_rate": 0.0005}),
                                       finding("lr-model-mismatch", {"learning_rate": 0.005}, "medium"),
                                       finding("early-stop-too-soon", {"patience": 100}, "medium")]))
    assert plan.diff_lines() == ["learning_rate: 0.001 -> 0.0005  (oscillation)",
                                 "patience: 50 -> 100  (early-stop-too-soon)"]
    assert [str(o) for o in plan.overruled] == [
        "learning_rate: lr-model-mismatch proposed 0.005; kept 0.0005 from the higher-ranked oscillation"]
    lost = next(s for s in plan.set_aside if s.finding_id == "lr-model-mismatch")
    assert lost.reason == "overruled: learning_rate kept from oscillation"
    assert "--learning_rate 0.0005" in plan.recdoc_command and "--patience 100" in plan.recdoc_command
    assert "--learning_rate 0.0005" in (plan.tool_command or "")
    # A report has no "overruled" list: it says the same in a note (the dry run prints the list, not both).
    assert disagreement_notes(plan) == ["fixes disagree on learning_rate: using 0.0005 (oscillation), not 0.005 "
                                        "(lr-model-mismatch)"]
    assert plan.notes == ()


def test_non_applicable_and_info_findings_are_reported_not_applied() -> None:
    wiring = finding("wiring-suspect", {}, applicable=False, how="check that the readout is fed the true target")
    broken = finding("eval-broken", {}, applicable=False)
    info = finding("batch-size", {"batch_size": 128}, severity="info")
    plan = compose_plan(incident_with([wiring, finding("lr-model-mismatch", {"learning_rate": 0.005}), broken,
                                       info]))
    assert plan.diff_lines() == ["learning_rate: 0.001 -> 0.005  (lr-model-mismatch)"]
    aside = {s.finding_id: s for s in plan.set_aside}
    assert set(aside) == {"wiring-suspect", "eval-broken", "batch-size"}
    assert aside["wiring-suspect"].reason == "no setting fixes it"
    assert aside["wiring-suspect"].what_to_check == "check that the readout is fed the true target"
    assert aside["eval-broken"].what_to_check == "better"  # no `how`: the expected effect says what to reach
    assert aside["batch-size"].reason.startswith("informational")
    assert plan.new_config.batch_size == 128 and "--batch_size" not in plan.recdoc_command


def test_only_and_skip_choose_the_findings() -> None:
    diagnosis = analyze_run(incident_run())
    only = compose_plan(diagnosis, only={"ndcg-definition"})
    assert only.diff_lines() == ["ndcg: 'master' -> 'paper'  (ndcg-definition)"]
    assert only.new_config.learning_rate == 0.001 and "--learning_rate 0.001" in only.recdoc_command
    assert [(s.finding_id, s.reason) for s in only.set_aside] == [("lr-model-mismatch", "not chosen by --only"),
                                                                  ("wiring-suspect", "not chosen by --only")]
    skipped = compose_plan(diagnosis, skip={"ndcg-definition"})
    assert skipped.diff_lines() == ["learning_rate: 0.001 -> 0.005  (lr-model-mismatch)"]
    assert skipped.new_config.ndcg == "master"
    nothing = compose_plan(diagnosis, skip={"ndcg-definition", "lr-model-mismatch"})
    assert not nothing.has_fix and nothing.changes == ()
    with pytest.raises(UsageError, match="no finding lr-too-high"):
        compose_plan(diagnosis, only={"lr-too-high"})


def test_user_budget_wins_over_a_finding_and_alone_is_not_a_fix() -> None:
    plan = compose_plan(incident_with([finding("undertrained", {"max_iter": 2000})]), overrides={"max_iter": 3})
    assert plan.diff_lines() == ["max_iter: 1000 (x1000 iterations) -> 3 (x1000 iterations)  (user)"]
    assert plan.new_config.max_iter == 3 and "--max_iter 3" in plan.recdoc_command
    assert "--max_iter 2000" not in plan.recdoc_command
    assert not plan.has_fix and plan.applied == ()  # the finding's only change was overruled by the user
    assert [(a.finding_id, a.reason) for a in plan.set_aside] == [
        ("undertrained", "overruled: max_iter set on the command line")]


def test_fix_run_names_number_up_and_never_reuse_a_taken_one() -> None:
    assert fix_run_exp("test79", []) == "test79_fix1"
    taken = ["book_ComiRec-DR_b128_lr0.005_d64_len20_test79_fix1", "book_ComiRec-DR_b128_lr0.01_d64_len20_test79_fix2",
             "book_ComiRec-DR_b128_lr0.005_d64_len20_test79_fix10x"]
    assert fix_run_exp("test79", taken) == "test79_fix3"
    assert fix_run_exp("test79_fix2", taken) == "test79_fix3"  # a fix of a fix counts from the base
    assert fix_run_exp(None, []) == "recdoc_fix1"
    plan = compose_plan(analyze_run(incident_run()), taken_names=taken[:1], runs_dir="/r", data_dir="/d")
    assert plan.new_config.exp == "test79_fix2" and plan.new_config.runs_dir == "/r"
    assert plan.recdoc_command.splitlines()[0].endswith("--exp test79_fix2 --data_dir /d --runs_dir /r")


def test_the_reports_command_for_a_fix_run_names_the_next_free_folder(tmp_path) -> None:
    """A run that is itself `_fix1` (made by pasting a report's command) gets `_fix2` in its own report, as
    `recdoc rerun --dry-run` proposes: pasting the report's command never hits an existing folder."""
    from recdoc.config import RunConfig
    from recdoc.diagnose.engine import analyze_paths
    from support.builders import write_run_folder

    runs = tmp_path / "runs"
    climbing = [0.02 + 0.002 * i for i in range(12)]
    for exp in ("run1", "run1_fix1"):
        config = RunConfig.for_dataset("book", model_type="ComiRec-DR", learning_rate=0.001, exp=exp,
                                       runs_dir=str(runs), data_dir=str(tmp_path / "data"))
        folder = write_run_folder(config, climbing)
    command = analyze_paths([str(folder)]).rerun["recdoc"]
    assert "--exp run1_fix2 " in command and f"--runs_dir {runs}" in command


def test_runs_analysed_together_get_distinct_new_run_names(tmp_path) -> None:
    """`run1` and `run1_fix1` in one analysis: each report's command names its own folder, so pasting one does
    not make the other fail."""
    from recdoc.config import RunConfig
    from recdoc.diagnose.engine import analyze_all
    from recdoc.diagnose.fixes import proposed_exp
    from support.builders import write_run_folder

    runs = tmp_path / "runs"
    for exp in ("run1", "run1_fix1"):
        write_run_folder(RunConfig.for_dataset("book", model_type="ComiRec-DR", learning_rate=0.001, exp=exp,
                                               runs_dir=str(runs)), [0.02 + 0.002 * i for i in range(12)])
    names = [proposed_exp(d.rerun["recdoc"]) for d in analyze_all([str(runs)])]
    assert sorted(names) == ["run1_fix2", "run1_fix3"]


@pytest.mark.parametrize("items,batch,negatives", [(1001, 32, 1), (1200, 16, 2), (600, 64, 1)])
def test_fixes_that_each_fit_are_fitted_together_to_a_small_catalogue(items: int, batch: int,
                                                                       negatives: int) -> None:
    # Each finding checks its own setting; together neg_num 10 x batch 128 = 1,280 negatives per step is more than a
    # small catalogue holds, which the trainer refuses: the plan fits the pair and says so.
    diagnosis = incident_with([finding("neg-samples", {"neg_num": 10}), finding("batch-size", {"batch_size": 128},
                                                                              "medium")])
    sized = {"item_count": Setting(items, "run.json"), "batch_size": Setting(batch, "run.json"),
             "neg_num": Setting(negatives, "run.json")}
    plan = compose_plan(dataclasses.replace(diagnosis, config={**diagnosis.config, **sized}))
    new = plan.new_config
    assert new.neg_num * new.batch_size <= items - 1
    assert (new.batch_size, new.neg_num) == sampling_that_fits(items, 128, 10)
    assert plan.notes == (f"batch_size 128 with neg_num 10 samples 1,280 negatives per step, more than the {items:,} "
                          f"items hold: the new run uses batch_size {new.batch_size} and neg_num {new.neg_num}",)
    assert f"--batch_size {new.batch_size}" in plan.recdoc_command and f"--neg_num {new.neg_num}" in plan.recdoc_command
    assert plan.applied == ("neg-samples", "batch-size")


def test_fixes_that_fit_the_catalogue_together_are_left_as_proposed() -> None:
    plan = compose_plan(incident_with([finding("neg-samples", {"neg_num": 10})]))
    assert plan.new_config.neg_num == 10 and plan.notes == ()
