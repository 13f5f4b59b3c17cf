"""The view layer every chapter shares, parameterised by the chapter's declarations
(:class:`~covidnb.chapters.contract.Chapter`): each function takes the chapter (or its slug)
first. One module per purpose: :mod:`.stores` (session, stores, runs), :mod:`.frames` (runs →
frame), :mod:`.tables` (mean ± std, reported vs re-run, profile vs paper), :mod:`.claims`
(the paper's comparisons, paired by seed), :mod:`.figures` (curves, ROC, confusion, CAMs),
:mod:`.data` (image-file summaries), :mod:`.present` (how a reviewer table reaches the page). A notebook reads ``from covidnb.chapters import views``
and calls ``views.results_table(chapter, frame)``; what only one paper needs stays in that
chapter's own view module."""

from covidnb.chapters.views.claims import claims, claims_summary, claims_wide
from covidnb.chapters.views.data import file_summary, size_figure
from covidnb.chapters.views.figures import (
    cam_rows,
    confident_indices,
    confusion_grid,
    curves_by,
    label_of,
    predicted,
    roc_by,
    select,
    stored_cam_rows,
)
from covidnb.chapters.views.frames import at_validation_threshold, run_row, runs_frame
from covidnb.chapters.views.present import (
    comparison_cells,
    gap_summary,
    show,
    show_claims,
    show_comparison,
    show_runs,
    table_html,
)
from covidnb.chapters.views.stores import (
    NotReRun,
    collect_runs,
    finished_runs,
    is_reference,
    not_rerun_note,
    read_only,
    rerun_command,
    resolve_store,
    run_with_checkpoint,
    setup,
    stored_run,
    synthetic_banner,
    trained_model,
)
from covidnb.chapters.views.tables import (
    NOT_COMPARABLE,
    caption,
    compare_all,
    compare_one,
    comparison_wide,
    mean_std_cell,
    profile_vs_paper,
    results_table,
)

__all__ = [
    "NOT_COMPARABLE",
    # presentation (issue 13) and the read-only book build
    "NotReRun",
    "at_validation_threshold",
    "cam_rows",
    "caption",
    "claims",
    "claims_summary",
    "claims_wide",
    "collect_runs",
    "compare_all",
    "compare_one",
    "comparison_cells",
    "comparison_wide",
    "confident_indices",
    "confusion_grid",
    "curves_by",
    "file_summary",
    "finished_runs",
    "gap_summary",
    "is_reference",
    "label_of",
    "mean_std_cell",
    "not_rerun_note",
    "predicted",
    "profile_vs_paper",
    "read_only",
    "rerun_command",
    "resolve_store",
    "results_table",
    "roc_by",
    "run_row",
    "run_with_checkpoint",
    "runs_frame",
    "select",
    "setup",
    "show",
    "show_claims",
    "show_comparison",
    "show_runs",
    "size_figure",
    "stored_cam_rows",
    "stored_run",
    "synthetic_banner",
    "table_html",
    "trained_model",
]
