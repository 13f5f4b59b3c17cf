"""Run records and the run store (CONTRACTS.md, "Runs")."""

from covidnb.runs.provenance import collect_provenance
from covidnb.runs.store import Run, RunStore, canonical_json, config_key

__all__ = ["Run", "RunStore", "canonical_json", "collect_provenance", "config_key"]
