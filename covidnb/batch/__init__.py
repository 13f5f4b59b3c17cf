"""Batches beyond one process: jobs submitted through submitit (:mod:`covidnb.batch.submit`)."""

from covidnb.batch.submit import (
    SubmitError,
    SubmitOptions,
    cancel_all,
    executor_parameters,
    make_executor,
    parse_time,
    submit_all,
)

__all__ = ["SubmitError", "SubmitOptions", "cancel_all", "executor_parameters",
           "make_executor", "parse_time", "submit_all"]
