"""The package's public exceptions (importable without Dask)."""


class DaskFitError(RuntimeError):
    """A Dask computation failed during ``fit``; the estimator was left unchanged.

    Raised for failures of the cluster itself (a lost worker, a cancelled
    computation); errors about the input are the same ``ValueError`` /
    ``TypeError`` as in memory.
    """


def warn_at_caller(message, category):
    """``warnings.warn`` pointing at the user's line, not at the package's.

    The warning is attributed to the first frame outside sk_softmax and
    scikit-learn (whose ``fit`` wrappers sit in between), so filters by module
    and the printed location name the call that fitted the model.
    """
    import os
    import sys
    import warnings

    import sklearn

    inside = (
        os.path.dirname(os.path.abspath(__file__)),
        os.path.dirname(os.path.abspath(sklearn.__file__)),
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
