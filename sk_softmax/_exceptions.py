"""The package's public exceptions (importable without Dask)."""


class DaskFitError(RuntimeError):
    """A Dask computation failed during ``fit``; the estimator was left unchanged.

    Raised for failures of the cluster itself (a lost worker, a cancelled
    computation); errors about the input are the same ``ValueError`` /
    ``TypeError`` as in memory.
    """
