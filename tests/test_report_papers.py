"""The known findings of the specs, recomputed from the transcribed tables."""

import pytest

from covidnb.report import check


@pytest.fixture(scope="module")
def findings():
    return check()


def pick(df, paper, rule):
    return df[(df.paper == paper) & (df.rule == rule)]


def test_dresunet_f1_against_precision_and_recall(findings):
    f1 = pick(findings, "dresunet", "f1_pr").set_index("row")["status"]
    flagged = {r.split(" | ")[0] for r, s in f1.items() if s == "flag"}
    assert flagged == {"UNet", "ResUNet", "ResUNet_ECSA", "ResUNet_FPRM", "DResUNet"}
    assert {r.split(" | ")[0] for r, s in f1.items() if s == "ok"} == {"SimpleCNN", "VGG"}


def test_dresunet_abstract_auc(findings):
    q = pick(findings, "dresunet", "quote")
    auc = q[q.column == "AUC %"]
    assert len(auc) == 2 and (auc.status == "flag").all()
    assert auc.difference.round(2).tolist() == [-8.0, -8.0]


def test_dresunet_patient_total(findings):
    s = pick(findings, "dresunet", "summary")
    flagged = s[s.status == "flag"]
    assert flagged[["row", "printed", "recomputed"]].values.tolist() == [
        ["patients | Non-COVID", "55", "129"]]


def test_dsn_saal_table6_is_covid_vs_rest_with_three_class_accuracy(findings):
    g = pick(findings, "dsn_saal", "g_mean")
    assert len(g) == 10 and (g.status == "ok").all()
    av = pick(findings, "dsn_saal", "averaging")
    t6 = av[av.table == "Table 6"]
    f1 = t6[t6.column.str.startswith("F1")]
    acc = t6[t6.column.str.startswith("ACC")]
    assert len(f1) == 10 and (f1.status == "ok").all()
    assert len(acc) == 10 and (acc.status == "note").all()
    assert acc.message.str.contains("3-class").all()


def test_pepx_resnet18_accuracy_and_units(findings):
    acc = pick(findings, "pepx_resnet", "accuracy").set_index("row")["status"]
    assert acc["Resnet18"] == "flag" and acc["This work"] == "ok"
    units = pick(findings, "pepx_resnet", "unit")
    assert set(units.table) == {"Table 2", "Table 3"} and (units.status == "flag").all()


def test_dual_sampling_f1_is_macro(findings):
    av = pick(findings, "dual_sampling", "averaging")
    test_rows = av[av.row.str.contains("test")]
    assert len(test_rows) == 16
    assert test_rows.recomputed.str.contains("macro [0-9.]+ ✓").all()
    assert not test_rows.recomputed.str.contains("positive [0-9.]+ ✓").any()


def test_dual_sampling_text_quotes_accuracy_as_sensitivity(findings):
    q = pick(findings, "dual_sampling", "quote")
    assert sorted(q[q.status == "flag"].printed) == ["0.955 (§IV-E text)", "0.965 (§IV-E text)"]


def test_deepcxray_means_and_copies(findings):
    s = pick(findings, "deepcxray", "summary")
    flagged = s[s.status == "flag"]
    assert ("Table 2", "MSE") in set(zip(flagged.table, flagged.column))
    assert flagged[flagged.column == "MSE"].message.str.contains("MSE\\(S\\)").all()
    same = pick(findings, "deepcxray", "same_quantity")
    assert same[same.status == "flag"].printed.tolist() == ["0.8834"]


def test_every_finding_explains_itself(findings):
    assert findings.message.str.len().gt(20).all()
    assert set(findings.status) <= {"flag", "note", "ok", "skipped"}


@pytest.mark.parametrize("chapter", ["dsn_saal", "dual_sampling", "deepcxray", "dresunet",
                                     "pepx_resnet"])
def test_notebook_is_committed_clean_with_parameters(chapter):
    import nbformat

    from covidnb.paths import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "nbs" / chapter / "reported_tables.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert f'chapter = "{chapter}"' in code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
