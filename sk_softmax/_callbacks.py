"""Progress reporting, in one place for every path.

Solvers report to a :class:`TrainingHooks` object and know nothing of who
listens: the ``verbose`` lines, scikit-learn's callbacks (``set_callbacks``,
scikit-learn >= 1.9) and observers registered with :func:`observe`. ``fit``,
``partial_fit``, in memory and on Dask all go through it, so they report the
same way.

Observers are how benchmarks and tests watch a run without reaching into
the package: ``with observe(fn): clf.fit(X, y)`` calls ``fn(report,
parameters)`` after every SGD epoch and every full-batch iteration of every
fit in this thread, with an :class:`EpochReport` (or an
:class:`IterationReport`) and a function returning the current ``(coef_,
intercept_)`` as host arrays.
"""

import contextlib
import contextvars
from dataclasses import dataclass

import numpy as np

from ._backend import to_numpy

try:  # scikit-learn >= 1.9: set_callbacks, ProgressBar, ScoringMonitor
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # older scikit-learn has no callback API: the same estimator

    class CallbackSupportMixin:
        """Stand-in for scikit-learn < 1.9, which has no ``sklearn.callback``."""

    def with_callbacks(method):
        return method


_OBSERVERS = contextvars.ContextVar("sk_softmax_observers", default=())


@dataclass
class EpochReport:
    """One SGD epoch (or ``partial_fit`` call), as the hooks see it.

    Attributes
    ----------
    epoch : int
        1-based number of the epoch since the model's first epoch.
    loss : float
        Training loss of the epoch (mean over its minibatches, plus penalty).
    validation_score : float or None
        Validation score after the epoch (early stopping only; higher is
        better): minus the validation log-loss, or the accuracy (see
        ``validation_metric``).
    progress : list of float
        Epochs done (fractions included) at each of the epoch's updates.
    rates : list of float
        The step size of each of the epoch's updates.
    eta0 : float
        The schedule's initial step size.
    seconds : float
        Wall time of the epoch's pass.
    validation_metric : {"log_loss", "accuracy"} or None
        What ``validation_score`` measures.
    """

    epoch: int
    loss: float
    validation_score: float
    progress: list
    rates: list
    eta0: float
    seconds: float
    validation_metric: str = None


@dataclass
class IterationReport:
    """One iteration of a full-batch (SciPy) solver, as the hooks see it.

    Attributes
    ----------
    iteration : int
        1-based iteration number.
    loss : float
        The objective at the iteration's parameters.
    gradient_max_norm : float
        The max-norm of its gradient (the solvers stop below ``tol``).
    step : float
        The max-norm of the change of the parameters in this iteration.
    evaluations : int
        Objective evaluations so far (line searches included).
    seconds : float
        Wall time of the iteration.
    """

    iteration: int
    loss: float
    gradient_max_norm: float
    step: float
    evaluations: int
    seconds: float


@contextlib.contextmanager
def observe(fn):
    """Call ``fn(report, parameters)`` after every SGD epoch (and every
    full-batch iteration) inside the block.

    ``report`` is an :class:`EpochReport` (an :class:`IterationReport`);
    ``parameters()`` returns the model's ``(coef_, intercept_)`` at that
    epoch as host NumPy arrays.
    """
    token = _OBSERVERS.set((*_OBSERVERS.get(), fn))
    try:
        yield fn
    finally:
        _OBSERVERS.reset(token)


class TrainingHooks:
    """What a solver calls as it trains; fans out to every listener.

    Parameters
    ----------
    loss : SoftmaxLoss
        The parameter layout (to turn a flat ``coef`` into ``coef_``,
        ``intercept_``).
    verbose : int
        ``> 0``: a line per SGD epoch.
    callbacks : SklearnCallbacks or None
        scikit-learn's callbacks of the estimator.
    """

    def __init__(self, loss, verbose=0, callbacks=None):
        self.loss = loss
        self.verbose = verbose
        self.callbacks = callbacks
        self.observers = _OBSERVERS.get()

    @property
    def per_iteration(self):
        """Whether a full-batch solver needs to report every iteration."""
        return bool(self.verbose or self.observers) or (
            self.callbacks is not None and self.callbacks.active
        )

    @property
    def reads_parameters(self):
        """Whether a listener may read the parameters after an epoch."""
        return bool(self.observers) or (
            self.callbacks is not None and self.callbacks.active
        )

    def epoch_begin(self, coef):
        """An epoch (or a SciPy iteration) starts from the parameters ``coef``."""
        if self.callbacks is not None:
            self.callbacks.begin_iteration(coef)

    def epoch_end(self, coef, report=None):
        """The epoch (or iteration) ended at ``coef``; True: a callback asks to stop.

        ``report`` is an :class:`EpochReport` (SGD), an
        :class:`IterationReport` (SciPy), or None (an iteration that never
        ran).
        """
        if isinstance(report, IterationReport):
            if self.verbose:
                print(_iteration_line(report, self.verbose))
        elif report is not None and self.verbose:
            print(_epoch_line(report, self.verbose))
        if report is not None:
            for fn in self.observers:
                fn(report, lambda: self._host_parameters(coef))
        if self.callbacks is None:
            return False
        return self.callbacks.end_iteration(coef)

    def rate_lowered(self, eta, decay_epochs=None, flat=False):
        """The schedule lowered the learning rate to ``eta``, or (with
        ``decay_epochs``) starts its final decay from ``eta`` to zero over
        that many epochs (``flat``: its last epochs at ``eta``)."""
        if self.verbose:
            if decay_epochs is None:
                print(f"Learning rate lowered to {eta:.3g}")
            elif flat:
                last = (
                    "Last epoch"
                    if decay_epochs == 1
                    else f"Last {decay_epochs:g} epochs"
                )
                print(f"{last} at learning rate {eta:.3g}")
            else:
                print(
                    f"Learning rate decays from {eta:.3g} to 0 over "
                    f"{decay_epochs:g} epochs"
                )

    def fit_end(self):
        """The estimator is fitted now."""
        if self.callbacks is not None:
            self.callbacks.end_fit()

    def _host_parameters(self, coef):
        W, b = self.loss.unpack(np.array(to_numpy(coef)), np)
        return W, np.zeros(self.loss.n_rows, dtype=W.dtype) if b is None else b


def _epoch_line(report, verbose):
    """``verbose=1``: loss, validation score, last rate, time; 2: the updates."""
    line = f"Epoch {report.epoch}: loss {report.loss:.6f}"
    if report.validation_metric == "log_loss":
        line += f", validation log-loss {-report.validation_score:.6f}"
    elif report.validation_score is not None:
        line += f", validation score {report.validation_score:.6f}"
    eta = report.rates[-1] if report.rates else float("nan")
    line += f", lr {eta:.3g}, {report.seconds:.3f} s"
    if verbose > 1 and report.rates:
        line += (
            f", {len(report.rates)} updates, lr from {report.rates[0]:.3g} "
            f"(initial {report.eta0:.3g})"
        )
    return line


def _iteration_line(report, verbose):
    """``verbose=1``: loss, step, time; 2: gradient and evaluations."""
    line = (
        f"Iteration {report.iteration}: loss {report.loss:.6f}, "
        f"step {report.step:.3g}, {report.seconds:.3f} s"
    )
    if verbose > 1:
        line += (
            f", gradient max-norm {report.gradient_max_norm:.3g}, "
            f"{report.evaluations} evaluations"
        )
    return line


def training_hooks(estimator, call_data, data, incremental):
    """The :class:`TrainingHooks` of one ``fit`` / ``partial_fit`` call:
    the verbose lines, scikit-learn's callbacks of ``estimator`` and the
    observers. ``call_data``: ``(X, y, sample_weight)`` as passed."""
    root = None
    sgd = estimator.solver == "sgd"
    if hasattr(estimator, "_init_callback_context"):
        # SciPy: one more (empty) subtask begins after the last iteration
        n_tasks = 1 if incremental else estimator.max_iter + (not sgd)
        root = estimator._init_callback_context(max_subtasks=n_tasks)
    task = "epoch" if sgd else f"{estimator.solver} iteration"
    callbacks = SklearnCallbacks(root, estimator, call_data, data, task)
    return TrainingHooks(data.loss, verbose=estimator.verbose, callbacks=callbacks)


class SklearnCallbacks:
    """Bridge from a fit's iterations to scikit-learn's callbacks (1.9+).

    The ``fit`` (or ``partial_fit``) call is the root task; with callbacks set,
    every SGD epoch or SciPy iteration is a subtask whose hooks can see, as
    ``fitted_estimator``, the model as it would be if the fit stopped there. On
    scikit-learn without ``sklearn.callback``, or without callbacks, the
    iteration methods are no-ops that cost nothing.

    Parameters
    ----------
    root : CallbackContext or None
        The root task's context (``estimator._init_callback_context(...)``),
        None without the callback API.
    estimator : estimator
        The estimator being fitted.
    call_data : tuple
        ``(X, y, sample_weight)`` of the call, as the user passed them (the
        hooks' arguments).
    data : training data
        Its ``loss``, ``classes`` and ``to_fitted`` make the model of an
        iteration's parameters.
    task_name : str
    """

    def __init__(self, root, estimator, call_data, data, task_name):
        self.estimator = estimator
        self.data = data
        self.task_name = task_name
        X, y, sample_weight = call_data
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.hook_args = {"X": X, "y": y, "metadata": metadata}
        self.root = root
        if root is not None:
            root.call_on_fit_task_begin(estimator=estimator, **self.hook_args)
        self.active = self.root is not None and bool(
            getattr(estimator, "_skl_callbacks", None)
        )
        self._task = None
        self._n_iterations = 0

    def _attributes(self, coef):
        """Lazily, the fitted attributes of the parameters ``coef`` (copied)."""

        def attributes():
            loss, to_fitted = self.data.loss, self.data.to_fitted
            W, b = loss.unpack(to_fitted(coef), self.data.xp)
            if b is None:
                b = to_fitted(np.zeros(loss.n_rows))
            return {"classes_": self.data.classes, "coef_": W, "intercept_": b}

        return attributes

    def begin_iteration(self, coef):
        """Begin an iteration that starts from the parameters ``coef``."""
        if not self.active:
            return
        self._task = self.root.subcontext(
            task_name=f"{self.task_name} {self._n_iterations}"
        )
        self._n_iterations += 1
        self._task.call_on_fit_task_begin(
            estimator=self.estimator,
            **self.hook_args,
            reconstruction_attributes=self._attributes(coef),
        )

    def end_iteration(self, coef):
        """End the iteration at ``coef`` (None: it never ran); True asks to stop."""
        if self._task is None:
            return False
        task, self._task = self._task, None
        if coef is None:
            return bool(task.call_on_fit_task_end(estimator=self.estimator))
        return bool(
            task.call_on_fit_task_end(
                estimator=self.estimator,
                **self.hook_args,
                reconstruction_attributes=self._attributes(coef),
            )
        )

    def end_fit(self):
        """End the root task; the estimator is fitted now."""
        if self.root is not None:
            self.root.call_on_fit_task_end(
                estimator=self.estimator,
                **self.hook_args,
                reconstruction_attributes={},
            )
