"""Minibatch SGD: configuration, state and the epoch loop.

The solver owns the loop (schedule, momentum, stopping, best weights, hooks)
and talks to a training-data object for everything that touches the data:
column statistics, one pass over the rows, the validation split and its
accuracy. The in-memory data (:mod:`sk_softmax._data`) and the Dask data
(:mod:`sk_softmax._dask`) implement the same methods, so ``fit``,
``partial_fit`` and the Dask path run this one loop; ``partial_fit`` is the
same loop for one epoch, resumed from the state the last call returned.
"""

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from .._callbacks import EpochReport
from .._stopping import SGDStopping
from ._result import SolverResult
from ._scaling import (
    ColumnMoments,
    feature_preconditioner,
    offsets_dominate,
    sgd_scaling,
)
from ._schedule import Schedule
from ._sgd_pass import (
    LazyZeros,
    average_sum,
    parameters,
    restart_average,
    settle_average,
)

# the minibatch of "auto" where SGD runs its compiled sparse loop: its step
# costs what the batch touches whatever its size, and averaged small steps
# reach a model in fewer epochs (benchmarks/bench_sparse.py)
SPARSE_BATCH = 32


@dataclass(frozen=True)
class SGDConfig:
    """SGD's hyper-parameters, as the estimator's parameters of the same names."""

    alpha: float = 1e-4
    l1_ratio: float = 0.0
    batch_size: object = "auto"
    learning_rate: str = "adaptive"
    learning_rate_init: object = "auto"
    power_t: float = 0.5
    momentum: float = 0.9
    nesterov: bool = False
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: int = 5
    early_stopping: bool = False
    validation_fraction: float = 0.1
    max_iter: int = 100
    average: object = "auto"

    def resolved(self, data, previous=None):
        """This config with ``batch_size`` and ``average`` "auto" decided for
        ``data`` (and a stream's ``previous`` state).

        On data where SGD runs its compiled sparse loop (wide sparse X) and
        without an L1 penalty (whose exact zeros an average would blur),
        averaged steps of 32 rows; elsewhere steps of 256 rows, not averaged.
        A stream keeps averaging if it started so.
        """
        sparse = data.sparse_steps(
            SPARSE_BATCH if self.batch_size == "auto" else self.batch_size
        )
        average = self.average
        if average == "auto" and previous is not None:
            average = previous.get("avg_sum") is not None
        elif average == "auto":
            average = sparse and not self.l1
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = SPARSE_BATCH if sparse and average else 256
        return dataclasses.replace(self, batch_size=batch_size, average=bool(average))

    @property
    def l2(self):
        """Strength of ``||W||^2 / 2`` in the objective."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1(self):
        """Strength of ``||W||_1`` in the objective."""
        return self.alpha * self.l1_ratio

    @property
    def step_momentum(self):
        """The momentum the updates use: none with an L1 penalty, whose
        cumulative clipping momentum would keep undoing (measured: the L1
        norm grew 30x in 8 epochs on a TF-IDF problem)."""
        return 0.0 if self.l1 else self.momentum

    @classmethod
    def from_params(cls, params):
        """The config of an estimator's ``get_params()``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


@dataclass
class SGDState:
    """Everything SGD needs to resume: what ``partial_fit`` keeps between calls.

    Attributes
    ----------
    coef : array of shape (n_coef,)
        Flat parameters (layout in :mod:`sk_softmax._loss`), where the data's
        computation runs.
    velocity : array of shape (n_coef,) or None
        Momentum buffer: None until a pass that uses momentum creates it (the
        sparse pass does not), and at rest.
    t : int
        Number of minibatch updates done so far.
    epoch : int
        Number of epochs (``partial_fit`` calls) done so far.
    eta0 : float
        Initial learning rate.
    eta : float
        Current learning rate of the "constant" / "adaptive" schedules.
    precond : array of shape (n_features + fit_intercept,)
        Step scaling per feature, the intercepts' last (see
        :func:`~._scaling.sgd_scaling`).
    center : array of shape (n_features,) or None
        The features' means when the steps are taken as if the features were
        centered (see :func:`~._scaling.centered_step`), else None.
    col_sq_sum : ndarray of shape (n_features,)
        Weighted sums of squared feature values over all data seen so far
        (host, float64): ``partial_fit`` updates the preconditioner from them,
        so a feature absent from the first chunks never gets an unbounded step.
    weight_seen : float
        Total sample weight behind ``col_sq_sum``.
    col_sum, col_m2 : ndarray of shape (n_features,) or None
        Weighted sums of the feature values, and of their squared deviations
        from the mean, over all data seen so far (host, float64): the center
        and the variances; None when the steps are not centered.
    horizon : int
        Length of the "linear" schedule in epochs (``max_iter``).
    stopping : SGDStopping
        The stopping rule's patience and best loss, carried across calls.
    decay_start, decay_epochs : float or None
        The "auto" schedule's decay: the epoch it started at and its length
        (None before it starts).
    l1_total : float
        The L1 penalty every weight could have received so far, per unit of
        its preconditioner: the sum of ``eta * alpha * l1_ratio`` over the
        updates (Tsuruoka et al.'s cumulative penalty).
    l1_applied : array of shape (n_rows * n_features,) or None
        The L1 penalty each weight has received so far (signed); None until a
        pass with ``l1_ratio > 0``.
    nonzero_columns : ndarray of int or None
        Features whose weights may be non-zero (sorted, host): the sparse pass keeps
        it, so that the decay of the weights outside its rows' columns costs
        what is non-zero, not ``n_classes * n_features``. None: not known yet
        (the sparse pass reads it from ``coef``). Not kept between calls.
    pending : CompactWeights or None
        The sparse pass's weights of its columns, not yet written back into
        ``coef`` (see :meth:`sync`). Not kept between calls.
    avg_sum : array of shape (n_coef,) or None
        Averaging: the integral of the parameters over the step sizes since
        the average's window started (``sum of eta * coef`` over the updates);
        None without averaging, or before the first pass with it.
    avg_weight : float
        The sum of the step sizes over that window: the average is
        ``avg_sum / avg_weight`` (:meth:`averaged`).
    """

    coef: object
    velocity: object
    t: int
    epoch: int
    eta0: float
    eta: float
    precond: object
    col_sq_sum: object
    weight_seen: float
    horizon: int
    stopping: SGDStopping = field(default=None)
    decay_start: float = None
    decay_epochs: float = None
    l1_total: float = 0.0
    l1_applied: object = None
    nonzero_columns: object = None
    pending: object = None
    avg_sum: object = None
    avg_weight: float = 0.0
    center: object = None
    col_sum: object = None
    col_m2: object = None

    def sync(self, release=False):
        """Bring ``coef`` up to date (write back what a sparse pass kept aside).

        ``release``: drop the kept weights too (the run is over).
        """
        if self.pending is not None:
            self.pending.flush()
            if release:
                self.pending = None
        parameters(self)  # allocated if a sparse pass had not written them yet

    def restart_average(self):
        """Start the average's window here: what came before weighs nothing."""
        restart_average(self)

    def averaged(self):
        """The averaged parameters (a new array), or ``coef`` itself when
        nothing has been averaged yet."""
        self.sync()
        if self.avg_sum is None or not self.avg_weight:
            return self.coef
        return average_sum(self) * (1.0 / self.avg_weight)

    def copy(self, asarray):
        """A deep copy with its arrays made by ``asarray`` (placed, copied)."""
        self.sync()
        return dataclasses.replace(
            self,
            pending=None,
            coef=asarray(self.coef),
            velocity=None if self.velocity is None else asarray(self.velocity),
            l1_applied=None if self.l1_applied is None else asarray(self.l1_applied),
            avg_sum=None if self.avg_sum is None else asarray(average_sum(self)),
            precond=asarray(self.precond),
            center=None if self.center is None else asarray(self.center),
            col_sq_sum=np.array(self.col_sq_sum, dtype=np.float64),
            col_sum=None
            if self.col_sum is None
            else np.array(self.col_sum, dtype=np.float64),
            col_m2=None if self.col_m2 is None else np.array(self.col_m2),
            stopping=None if self.stopping is None else self.stopping.copy(),
            nonzero_columns=None
            if self.nonzero_columns is None
            else self.nonzero_columns.copy(),
        )

    def to_dict(self, place):
        """The state as plain values (arrays placed by ``place``, numbers, dicts).

        What the estimator keeps between ``partial_fit`` calls: no class of
        this package in it, so ``skops.io`` loads it without trusting one.
        Not ``coef``: the model's ``coef_`` and ``intercept_`` are the
        parameters (one copy, and a stream goes on from them as they are),
        unless the model is an average: then the iterate the stream goes on
        from is kept too (``"iterate"``).
        """
        self.sync()
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del values["coef"], values["nonzero_columns"], values["pending"]
        if self.avg_sum is not None:
            values["avg_sum"] = average_sum(self)
            values["iterate"] = self.coef
        arrays = ("velocity", "precond", "center", "l1_applied", "avg_sum", "iterate")
        for name in arrays:
            if name not in values:
                continue
            if values[name] is not None:
                values[name] = place(values[name])
        values["col_sq_sum"] = np.array(self.col_sq_sum, dtype=np.float64)
        for name in ("col_sum", "col_m2"):
            if values[name] is not None:
                values[name] = np.array(values[name], dtype=np.float64)
        values["stopping"] = None if self.stopping is None else self.stopping.to_dict()
        return values

    @classmethod
    def from_dict(cls, values, coef):
        """Inverse of :meth:`to_dict`, with the parameters ``coef`` (not copied)."""
        values = dict(values)
        values["coef"] = values.pop("iterate", None)
        if values["coef"] is None:
            values["coef"] = coef
        if values.get("stopping") is not None:
            values["stopping"] = SGDStopping.from_dict(values["stopping"])
        return cls(**values)


@dataclass
class SGDResult(SolverResult):
    """What :meth:`SGDSolver.run` hands back.

    Attributes
    ----------
    coef : array of shape (n_coef,)
        The parameters kept: the last epoch's, or with early stopping the
        best validation epoch's.
    n_iter : int
        Epochs since the model's first (``partial_fit`` calls included).
    state : SGDState
        The state to resume from (its ``coef`` is ``coef``).
    loss_curve : list of float
        Training loss of each epoch of this run.
    validation_scores : list of float or None
        Validation accuracy of each epoch (early stopping only).
    best_validation_score : float or None
    """

    state: SGDState = None
    loss_curve: list = None
    validation_scores: list = None
    best_validation_score: float = None

    def fitted_attributes(self, data, previous_loss_curve=()):
        """Every fitted attribute of an SGD fit (the loss curve continued)."""
        attributes = super().fitted_attributes(data)
        loss_curve = [*previous_loss_curve, *self.loss_curve]
        attributes.update(
            loss_curve_=loss_curve,
            best_loss_=float(np.min(loss_curve)),
            t_=self.state.t,
        )
        if self.validation_scores is not None:
            attributes.update(
                validation_scores_=self.validation_scores,
                best_validation_score_=self.best_validation_score,
            )
        return attributes


class SGDSolver:
    """Minibatch SGD over a training-data object.

    Parameters
    ----------
    config : SGDConfig
    """

    def __init__(self, config):
        self.config = config
        self.schedule = Schedule(config.learning_rate, config.power_t)

    def start(self, data, coef0=None):
        """A fresh state: step scaling from ``data``, parameters ``coef0`` or 0."""
        cfg = self.config
        moments = data.column_stats()
        centered = self._centers(data, moments)
        precond, center, eta0 = sgd_scaling(
            moments,
            data.curvature_sample,
            data.loss,
            cfg.alpha,
            cfg.learning_rate_init,
            centered,
        )
        _check_step_scaling(precond, data)
        if coef0 is not None:
            coef = data.asarray(coef0)
        elif data.sparse_steps(cfg.batch_size):
            # the sparse loop keeps its columns' weights aside: the parameters
            # are allocated when written back (see CompactWeights)
            coef = LazyZeros(data.zeros(0), shape=(data.loss.n_coef,))
        else:
            coef = data.zeros(data.loss.n_coef)
        return SGDState(
            coef=coef,
            velocity=None,
            t=0,
            epoch=0,
            eta0=eta0,
            eta=eta0,
            precond=data.asarray(precond),
            center=None if center is None else data.asarray(center),
            col_sq_sum=moments.sq_sum,
            col_sum=moments.sum if centered else None,
            col_m2=moments.m2 if centered else None,
            weight_seen=moments.total,
            horizon=cfg.max_iter,
            stopping=self._stopping(stream=True),
            nonzero_columns=None if coef0 is not None else np.empty(0, np.intp),
        )

    def resume(self, state, data):
        """A copy of ``state`` that continues on ``data`` (``partial_fit``).

        The new data's feature statistics join the preconditioner; parameters
        changed since the last call take effect from this call on.
        """
        cfg = self.config
        loss = data.loss
        if state.precond.shape[0] != loss.n_features + loss.fit_intercept:
            raise ValueError(
                "fit_intercept was changed since the first partial_fit call; set "
                "it back, or call fit to start a new model."
            )
        state = state.copy(data.asarray)
        centered = state.col_sum is not None  # as the stream started
        seen = ColumnMoments(
            state.col_sum, state.col_sq_sum, state.col_m2, state.weight_seen
        )
        moments = data.column_stats()
        if centered:
            moments = seen.combine(moments)
        else:
            moments = ColumnMoments(
                None,
                state.col_sq_sum + moments.sq_sum,
                None,
                state.weight_seen + moments.total,
            )
        state.col_sum, state.col_sq_sum, state.col_m2, state.weight_seen = moments
        precond, center = feature_preconditioner(
            moments, data.loss, cfg.alpha, centered and not cfg.l1
        )
        _check_step_scaling(precond, data)
        state.precond = data.asarray(precond)
        state.center = None if center is None else data.asarray(center)
        if cfg.learning_rate_init != "auto" and (
            float(cfg.learning_rate_init) != state.eta0
        ):
            state.eta0 = state.eta = float(cfg.learning_rate_init)
        state.horizon = cfg.max_iter
        if not cfg.step_momentum:
            state.velocity = None
        if state.stopping is None or not state.stopping.stream:
            state.stopping = self._stopping(stream=True)  # a stream after fit
        if state.decay_start is not None:
            # a stream after an "auto" fit, whose rate decayed to zero: it goes
            # on as a stream whose rate was lowered once
            state.decay_start = state.decay_epochs = None
            state.eta = state.eta / 5.0
        return state

    def _centers(self, data, moments):
        """Whether the steps are taken as if the features were centered.

        Where some feature's mean dwarfs its spread (see
        :func:`~._scaling.offsets_dominate`), with an intercept to absorb the
        means, without an L1 penalty (its clipping is per weight) and where
        SGD does not run its compiled sparse loop (whose steps touch only the
        batch's columns, which centering would spread to every column).
        """
        cfg = self.config
        return bool(
            data.loss.fit_intercept
            and not cfg.l1
            and not data.sparse_steps(cfg.batch_size)
            and offsets_dominate(moments)
        )

    def _model(self, state):
        """The parameters the model is at this point of the run: the average
        with averaging (a new array), else the iterate (``state.coef``)."""
        if self.config.average:
            return state.averaged()
        state.sync()
        return state.coef

    def _stopping(self, early_stopping=False, stream=False):
        cfg = self.config
        # the averaged model's objective does not fluctuate from epoch to
        # epoch: one epoch that misses tol is a stall (the validation score
        # and a stream's chunks still get their patience)
        smooth = cfg.average and not (early_stopping or stream)
        return SGDStopping(
            tol=cfg.tol,
            n_iter_no_change=1 if smooth else cfg.n_iter_no_change,
            early_stopping=early_stopping,
            stream=stream,
            plateau=None if stream else self.schedule.plateau,
        )

    def run(self, data, hooks, rng, *, previous=None, coef0=None, incremental=False):
        """Train on ``data``; return an :class:`SGDResult`.

        ``fit``: up to ``max_iter`` epochs from ``coef0`` (or zeros), until
        the stopping rule fires; with early stopping a validation part of
        ``data`` is held out and the best epoch's weights are kept.
        ``partial_fit`` (``incremental=True``): one epoch resumed from the
        ``previous`` state (as :meth:`SGDState.to_dict` gave it) and the
        parameters ``coef0`` (the model's), whose
        stopping rule and schedule carry on; a stream is never stopped, and
        never warned about.

        ``hooks`` (:class:`~sk_softmax._callbacks.TrainingHooks`) sees every
        epoch; ``rng`` (a ``RandomState``) draws the split and the batches.
        Overflow on the way to a divergence is no NumPy warning: the
        divergence check raises the error that says what to change.
        """
        self.config = self.config.resolved(data, previous)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._run(data, hooks, rng, previous, coef0, incremental)

    def _run(self, data, hooks, rng, previous, coef0, incremental):
        cfg = self.config
        validation = None
        if cfg.early_stopping and not incremental:
            data, validation = data.split(cfg.validation_fraction, rng)
        if previous is not None:
            state = self.resume(SGDState.from_dict(previous, coef0), data)
        else:
            state = self.start(data, coef0)
        stopping = state.stopping
        if validation is not None:
            stopping = self._stopping(early_stopping=True)
        elif not incremental:
            stopping = self._stopping()
        loss_curve, scores = [], []
        converged = False
        for _ in range(1 if incremental else cfg.max_iter):
            if cfg.average and state.epoch == 1:
                # the average leaves out the first epoch's path from the start
                state.restart_average()
            hooks.epoch_begin(self._model(state) if hooks.reads_parameters else None)
            tic = time.perf_counter()
            record = data.sgd_pass(state, cfg, self.schedule, rng)
            state.epoch += 1
            check_divergence(record.loss, state, data.loss.n_classes)
            criterion = record.loss
            if cfg.average:  # the model is the average: its objective
                if record.average_loss is None:
                    record.average_loss = data.objective(
                        state.averaged(), cfg.l2, cfg.l1
                    )
                criterion = record.average_loss
            loss_curve.append(criterion)
            score = model = None
            if validation is not None:
                model = self._model(state)
                score = validation.accuracy(model)
                scores.append(score)
            seconds = time.perf_counter() - tic
            if hooks.reads_parameters and model is None:
                model = self._model(state)  # for the listeners only
            report = EpochReport(
                epoch=state.epoch,
                loss=criterion,
                validation_score=score,
                progress=record.progress,
                rates=record.rates,
                eta0=state.eta0,
                seconds=seconds,
            )
            if hooks.epoch_end(state.coef if model is None else model, report):
                converged = True  # a callback asked to stop: no ConvergenceWarning
                break
            decision = stopping.update(
                state, criterion, self.schedule, score, data.copy, model
            )
            if decision == "lowered":
                hooks.rate_lowered(state.eta)
            elif decision == "stop" and not incremental:
                converged = True
                if stopping.unsettled() is not None:
                    stopping.warn_unsettled(report.rates[-1])
                break
        if cfg.average and not incremental:
            # the model is the average; a stream after this fit goes on from it
            settle_average(state)
        state.sync(release=True)
        coef = self._model(state)
        # the last update is in no epoch's loss: check where the run ended
        check_divergence(data.sample_loss(coef), state, data.loss.n_classes)
        if not (converged or incremental):
            stopping.warn_not_converged(cfg.max_iter)
        result = SGDResult(
            coef=coef,
            n_iter=state.epoch,
            state=state,
            loss_curve=loss_curve,
        )
        if validation is not None:
            best = stopping.validation
            # partial_fit / warm_start go on from the restored weights, at rest
            state.coef = result.coef = data.copy(best.best_coef)
            state.velocity = state.avg_sum = None
            state.avg_weight = 0.0
            result.validation_scores = scores
            result.best_validation_score = best.best_score
        return result


def _check_step_scaling(precond, data):
    """Refuse features so large that their step rounds to zero in X's dtype."""
    if bool(data.xp.any(data.to_fitted(precond) == 0)):
        raise ValueError(
            f"X has values too large to train on in {data.dtype}: the SGD "
            "step of some features underflows to zero. Scale the data (e.g. "
            "StandardScaler), or pass it as float64."
        )


def check_divergence(epoch_loss, state, n_classes):
    """Raise when the training loss shows that the steps overshoot without bound.

    At zero weights the loss is ``log(n_classes)``; a loss 1e4 times larger
    (or non-finite) only comes from steps that overshoot without bound.
    """
    limit = 1e4 * np.log(n_classes)
    if not np.isfinite(epoch_loss) or epoch_loss > limit:
        raise ValueError(
            f"SGD diverged: the training loss reached {epoch_loss:.3g} at epoch "
            f"{state.epoch} with learning rate {state.eta0:.3g}. Lower "
            "learning_rate_init (or use learning_rate_init='auto'), lower "
            "momentum, or scale the data (e.g. StandardScaler). The model was "
            "left as it was before this call."
        )
