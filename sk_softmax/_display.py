"""Training curves of a fitted SGD model, in scikit-learn's Display style."""

import numpy as np


class TrainingCurveDisplay:
    """Training loss per epoch and, with early stopping, the validation score.

    The loss is on the left axis (blue), the validation log-loss or accuracy
    on the right one (orange), the epoch whose weights were kept is marked;
    the legend sits under the axes, out of the curves' way.

    Build it with :meth:`from_estimator`; matplotlib is needed (``pip install
    matplotlib``, or from a checkout ``pip install -e ".[plot]"``) and
    imported only here.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss after each epoch (``loss_curve_``).
    validation_scores : array-like of shape (n_epochs,) or None, default=None
        Validation score after each epoch (``validation_scores_``: higher is
        better).
    estimator_name : str, default=None
        Used in the legend.
    validation_metric : {"accuracy", "log_loss"}, default="accuracy"
        What the scores are: accuracies, or minus the log-loss (plotted as
        the log-loss itself).

    Attributes
    ----------
    best_epoch_ : int or None
        1-based epoch whose weights the estimator kept (the best validation
        score), or None without early stopping (or where no score is
        finite).
    ax_ : matplotlib Axes
        Axes of the loss curve.
    ax_validation_ : matplotlib Axes or None
        Twin axes of the validation score.
    figure_ : matplotlib Figure
        The figure holding the axes.

    Examples
    --------
    Usually built from a fitted model with :meth:`from_estimator`; the
    constructor takes the curves themselves:

    >>> from sk_softmax import TrainingCurveDisplay
    >>> disp = TrainingCurveDisplay([0.9, 0.5, 0.4], [0.8, 0.9, 0.85]).plot()
    >>> disp.best_epoch_
    2
    >>> disp.ax_validation_.get_ylabel()
    'validation accuracy'
    """

    def __init__(
        self,
        loss_curve,
        validation_scores=None,
        *,
        estimator_name=None,
        validation_metric="accuracy",
    ):
        self.loss_curve = np.asarray(loss_curve, dtype=float)
        self.validation_scores = (
            None
            if validation_scores is None
            else np.asarray(validation_scores, dtype=float)
        )
        self.estimator_name = estimator_name
        self.validation_metric = validation_metric

    def _check_curves(self):
        """A ValueError that names the argument to change, before drawing."""
        if self.validation_metric not in ("accuracy", "log_loss"):
            raise ValueError(
                "validation_metric must be 'accuracy' or 'log_loss', got "
                f"{self.validation_metric!r}."
            )
        if self.loss_curve.ndim != 1:
            raise ValueError(
                "loss_curve must be 1-D (one training loss per epoch), got shape "
                f"{self.loss_curve.shape}."
            )
        scores = self.validation_scores
        if scores is not None and scores.size and scores.shape != self.loss_curve.shape:
            raise ValueError(
                "validation_scores must have one score per epoch of loss_curve: "
                f"shape {scores.shape} against {self.loss_curve.shape}."
            )

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        """Plot the curves of a fitted SGD ``SoftmaxRegressionClassifier``.

        Parameters
        ----------
        estimator : SoftmaxRegressionClassifier or Pipeline
            Fitted with ``solver="sgd"`` (it has ``loss_curve_``); of a
            Pipeline, its last step (of a nested one, the innermost).
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, with ``ax_`` and ``figure_`` set.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import scale
        >>> from sk_softmax import SoftmaxRegressionClassifier, TrainingCurveDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = SoftmaxRegressionClassifier(
        ...     early_stopping=True, n_iter_no_change=3, random_state=0
        ... ).fit(scale(X), y)
        >>> disp = TrainingCurveDisplay.from_estimator(clf)
        >>> len(disp.loss_curve) == clf.n_iter_
        True
        >>> disp.best_epoch_ == int(np.argmax(clf.validation_scores_)) + 1
        True
        """
        while hasattr(estimator, "steps"):  # a Pipeline: its model is the last step
            estimator = estimator[-1]
        if not hasattr(estimator, "loss_curve_"):
            raise ValueError(
                "TrainingCurveDisplay needs a model fitted with solver='sgd' "
                "(it reads loss_curve_); "
                f"{type(estimator).__name__} has no loss_curve_. Fit it first, "
                "or use solver='sgd'."
            )
        scores = getattr(estimator, "validation_scores_", None)
        # what the fit scored, read from its scores (a negated log-loss is
        # never above 0, an accuracy never below), not from ``scoring``, which
        # may have changed since; all zeros say neither: then ``scoring``
        metric = getattr(estimator, "scoring", "accuracy")
        if scores is not None and np.any(np.asarray(scores) != 0):
            metric = "loss" if np.min(scores) < 0 else "accuracy"
        display = cls(
            estimator.loss_curve_,
            scores,
            estimator_name=type(estimator).__name__,
            validation_metric="log_loss" if metric == "loss" else "accuracy",
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        self : TrainingCurveDisplay
            With ``ax_``, ``ax_validation_``, ``figure_`` and ``best_epoch_``.

        Raises
        ------
        ValueError
            If ``validation_metric`` is neither ``"accuracy"`` nor
            ``"log_loss"``, the loss curve is not 1-D, or the validation
            scores are not one per epoch of the loss curve.
        ImportError
            If matplotlib is not installed.

        Examples
        --------
        >>> from sk_softmax import TrainingCurveDisplay
        >>> TrainingCurveDisplay([1.0, 0.6, 0.5]).plot().best_epoch_ is None
        True
        """
        self._check_curves()
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(
                "TrainingCurveDisplay needs matplotlib: pip install matplotlib "
                '(or pip install -e ".[plot]" from a checkout).'
            ) from exc
        if ax is None:
            _, ax = plt.subplots()
        epochs = np.arange(1, self.loss_curve.shape[0] + 1)
        (loss_line,) = ax.plot(
            epochs, self.loss_curve, "-o", ms=3, color="tab:blue", label="training loss"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss", color="tab:blue")
        ax.tick_params(axis="y", labelcolor="tab:blue")
        lines = [loss_line]
        self.ax_validation_ = None
        self.best_epoch_ = None
        if self.validation_scores is not None and self.validation_scores.size:
            ax_val = ax.twinx()
            log_loss = self.validation_metric == "log_loss"
            label = "validation log-loss" if log_loss else "validation accuracy"
            (val_line,) = ax_val.plot(
                epochs,
                -self.validation_scores if log_loss else self.validation_scores,
                "-s",
                ms=3,
                color="tab:orange",
                label=label,
            )
            ax_val.set_ylabel(label, color="tab:orange")
            ax_val.tick_params(axis="y", labelcolor="tab:orange")
            scored = np.isfinite(self.validation_scores)
            if np.any(scored):  # a NaN score is never the epoch kept
                ranked = np.where(scored, self.validation_scores, -np.inf)
                self.best_epoch_ = int(np.argmax(ranked)) + 1
            lines.append(val_line)
            self.ax_validation_ = ax_val
        if self.best_epoch_ is not None:
            best = self.ax_validation_.axvline(
                self.best_epoch_,
                color="tab:green",
                ls="--",
                label=f"best epoch ({self.best_epoch_}): weights kept",
            )
            lines.append(best)
        # under the x-axis label, out of the curves' way
        ax.legend(
            lines,
            [ln.get_label() for ln in lines],
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            bbox_transform=_below_xlabel(ax),
            borderaxespad=0.0,
            ncols=len(lines),
            frameon=False,
            fontsize="small",
        )
        if self.estimator_name:
            ax.set_title(self.estimator_name)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


def _below_xlabel(ax):
    """Axes coordinates shifted down past the x tick labels and the x label."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import offset_copy

    def height(size):  # a line of text of this font size, in points
        return 1.2 * FontProperties(size=size).get_size_in_points()

    points = (
        rcParams["xtick.major.size"]
        + rcParams["xtick.major.pad"]
        + height(rcParams["xtick.labelsize"])
        + rcParams["axes.labelpad"]
        + height(rcParams["axes.labelsize"])
        + 2
    )
    return offset_copy(ax.transAxes, fig=ax.figure, y=-points, units="points")
