"""Warnings that point at the user's line."""

import os
import sys
import warnings


def warn_at_caller(message, category):
    """``warnings.warn`` pointing at the user's line, not at the package's.

    The warning is attributed to the first frame outside sk_softmax and
    scikit-learn (whose ``fit`` wrappers sit in between), so filters by module
    and the printed location name the call that fitted the model.
    """
    import sklearn

    inside = (
        os.path.dirname(os.path.abspath(__file__)),
        os.path.dirname(os.path.abspath(sklearn.__file__)),
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
