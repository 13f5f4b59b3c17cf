"""The learn-at-all audit of run records (issue 12), on records written for the test."""

import numpy as np
import pandas as pd
import pytest

from covidnb.runs import RunStore
from covidnb.runs.audit import audit_store, audit_summary


def _record(store, seed, scores, kept, val_thr=None, history_auc=(0.6, 0.7, 0.65),
            select="val_auc"):
    labels = np.arange(len(scores)) % 2

    def body(run):
        run.save_history(pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4],
                                       "val_auc": list(history_auc)}))
        run.save_predictions(pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(scores))],
                                           "label": labels, "p_neg": 1 - np.asarray(scores),
                                           "p_pos": scores}))
        m = {"task": "binary", "positive": "pos", "auc": 0.7, "threshold": 0.5,
             "training": {"best_epoch": kept, "epochs_run": 3, "select": select}}
        if val_thr is not None:
            m["val_threshold"] = {"threshold": val_thr}
        run.save_metrics(m)

    return store.run({"chapter": "t", "model": "m", "seed": seed}, body, log=lambda s: None)


def test_audit_by_hand(tmp_path):
    store = RunStore(tmp_path)
    # seed 0: every score below 0.5 (collapsed at 0.5), but split 2/2 at the val threshold 0.3
    _record(store, 0, [0.2, 0.35, 0.25, 0.4], kept=2, val_thr=0.3)
    # seed 1: all scores ≈ 0.5 (a constant output, std 0.001), kept at epoch 3
    _record(store, 1, [0.499, 0.501, 0.499, 0.501], kept=3)
    f = audit_store(store).set_index("seed")
    assert f.loc[0, "one_class_share_at_0.5"] == 1.0
    assert f.loc[0, "one_class_share_at_val_threshold"] == 0.5
    assert f.loc[0, "val_at_kept"] == pytest.approx(0.7)
    assert f.loc[0, "train_loss_drop"] == pytest.approx(0.3)
    assert f.loc[1, "score_spread"] == pytest.approx(0.001)
    s = audit_summary(f.reset_index())
    assert s == {"runs": 2, "collapsed at 0.5": 1, "collapsed at the recorded threshold": 0,
                 "constant outputs": 1, "kept epoch 1 or 2": 1, "dirty records": int(f["dirty"].sum())}


def test_a_run_that_keeps_its_last_epoch_reports_that_epoch_s_validation_auc(tmp_path):
    store = RunStore(tmp_path)
    _record(store, 0, [0.2, 0.7, 0.3, 0.8], kept=3, select="last")
    f = audit_store(store)
    assert f.loc[0, "val_at_kept"] == pytest.approx(0.65) and f.loc[0, "kept_epoch"] == 3


def test_multiclass_run_is_audited_by_its_argmax(tmp_path):
    store = RunStore(tmp_path)
    # 5 test images, 3 classes: argmax calls a, c, c, c, c -> the largest class takes 4 / 5
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6], [0.3, 0.1, 0.6],
                      [0.25, 0.25, 0.5]])

    def body(run):
        run.save_history(pd.DataFrame({"epoch": [1, 2], "train_loss": [1.1, 0.2],
                                       "val_auc": [0.5, 0.66]}))
        run.save_predictions(pd.DataFrame({"sample_id": list("vwxyz"), "label": [0, 2, 2, 1, 2],
                                           "p_a": probs[:, 0], "p_b": probs[:, 1],
                                           "p_c": probs[:, 2]}))
        run.save_metrics({"task": "multiclass", "classes": ["a", "b", "c"], "macro": {"auc": 0.8},
                          "training": {"best_epoch": 2, "epochs_run": 2, "select": "last"}})

    store.run({"chapter": "t", "model": "m", "seed": 0}, body, log=lambda s: None)
    row = audit_store(store).iloc[0]
    assert row["one_class_share_at_0.5"] == pytest.approx(0.8)
    assert np.isnan(row["one_class_share_at_val_threshold"])
    assert row["test_auc"] == 0.8 and row["val_at_kept"] == pytest.approx(0.66)
    assert row["train_loss_drop"] == pytest.approx(0.9)
    assert row["score_spread"] == pytest.approx(probs[:, 2].std())  # class c varies most
    s = audit_summary(audit_store(store))
    assert s["collapsed at 0.5"] == 0 and s["collapsed at the recorded threshold"] == 0


def test_multiclass_run_at_its_validation_offsets(tmp_path):
    # argmax calls 9 of 10 test images c (collapsed); the offsets chosen on validation spread the
    # calls 3 / 3 / 4 (their confusion matrix's column sums): not collapsed at the recorded point
    store = RunStore(tmp_path)
    probs = np.tile([0.2, 0.3, 0.5], (10, 1))
    probs[0] = [0.6, 0.2, 0.2]

    def body(run):
        run.save_history(pd.DataFrame({"epoch": [1, 2], "train_loss": [1.1, 0.6],
                                       "val_auc": [0.6, 0.7]}))
        run.save_predictions(pd.DataFrame({"sample_id": [f"s{i}" for i in range(10)],
                                           "label": [0, 0, 0, 1, 1, 1, 2, 2, 2, 2],
                                           "p_a": probs[:, 0], "p_b": probs[:, 1], "p_c": probs[:, 2]}))
        run.save_metrics({"task": "multiclass", "classes": ["a", "b", "c"], "macro": {"auc": 0.7},
                          "training": {"best_epoch": 2, "epochs_run": 2, "select": "last"},
                          "val_offsets": {"offsets": {"a": 0.0, "b": 0.5, "c": -0.25},
                                          "confusion_matrix": [[2, 1, 0], [0, 2, 1], [1, 0, 3]]}})

    store.run({"chapter": "t", "model": "m", "seed": 0}, body, log=lambda s: None)
    row = audit_store(store).iloc[0]
    assert row["one_class_share_at_0.5"] == pytest.approx(0.9)
    assert row["one_class_share_at_val_threshold"] == pytest.approx(0.4)
    s = audit_summary(audit_store(store))
    assert s["collapsed at 0.5"] == 1 and s["collapsed at the recorded threshold"] == 0
