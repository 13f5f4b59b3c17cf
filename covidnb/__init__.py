"""covidnb — the library behind the covidnb book.

Re-runs five published deep-learning papers on COVID-19 and chest imaging. Every model, loss,
sampler, dataset, metric, plot and runner lives here; the notebooks in ``nbs/`` call it.
See ``covidnb/CONTRACTS.md`` for the interfaces the sub-packages share.
"""

__version__ = "0.1.0"
