"""Minibatch SGD: its configuration and the epoch loop.

:class:`SGDSolver` runs named steps: :meth:`~SGDSolver.setup` (the split,
a fresh or resumed state, the stopping rule), :meth:`~SGDSolver.epoch` (one
pass over the training rows, the criterion, the hooks),
:meth:`~SGDSolver.check` (the stopping rule's verdict and the schedule's
answer to it) and :meth:`~SGDSolver.finalize` (the model kept, the checks
and warnings of the end). It talks to a training-data object only through
data operations (column moments, a sample of rows, a pass over its rows,
objective sums, a metric on a split), so ``fit``, ``partial_fit`` and the
Dask path run this one loop; ``partial_fit`` is the same loop for one
epoch, resumed from the state the last call returned.
"""

import dataclasses
import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from ..._backend import get_namespace, to_numpy, tree_map
from ..._callbacks import EpochReport
from ..._loss import compiled_batches
from ..._stopping import BestWeights, StoppingRule, Verdict, mean_noise
from ..._warnings import warn_at_caller
from .._result import SolverResult
from .._scaling import (
    CURVATURE_ROWS,
    ColumnMoments,
    covariance_preconditioner,
    data_precision,
    feature_preconditioner,
    input_sketch,
    offsets_dominate,
    sgd_scaling,
    top_curvature_step,
    unresolved_spread,
)
from .._schedule import Schedule
from ._passes import (
    CompactModel,
    LazyZeros,
    PassResult,
    SparseScratch,
    joined_batches,
    kept_model,
    merge_records,
    restart_average,
    settle_average,
    sgd_pass,
    shorten_average,
    weights_on,
)
from ._state import Params, Scaling, SGDState

# the minibatch of "auto" where SGD runs its compiled sparse loop: its step
# costs what the batch touches whatever its size, and averaged small steps
# reach a model in fewer epochs (benchmarks/bench_sparse.py)
SPARSE_BATCH = 32

# without a validation split, on data of at most this many rows, the
# criterion is the model's exact training objective, and the best model
# seen is the one kept
EXACT_ROWS = 10_000

# a fit's patience spans at least this many updates at momentum MAX_MOMENTUM
# (tiny data has few an epoch), fewer where the momentum is lower: as many as
# its heavy ball's swings take to fade as much (:func:`_swing_updates`); the
# final decay of "auto" spans this many at least, whatever the momentum
PATIENCE_UPDATES = 50

# a stream's patience is at least this many calls (on their mean loss)
STREAM_PATIENCE = 5

# tol="auto": the relative improvement an epoch must bring, on small data
# (at most SMALL_VALUES stored values: epochs cost little, and a small test
# set tells apart models a sample apart, so the fit goes closer to the
# optimum) and on the rest (as SGDClassifier's tol), and where the criterion
# is a validation split's log-loss (an estimate on a tenth of the rows: on
# bench_sparse.py's 50-class short-document corpus, 300,000 values, 1e-4 ran
# 7 epochs where 1e-3 runs 4, both at held-out parity)
SMALL_TOL, LARGE_TOL = 1e-4, 1e-3
SMALL_VALUES = 2**20

# momentum="auto" never goes above this
MAX_MOMENTUM = 0.9

# momentum="auto" on dense data: the excess loss that the start rate's
# minibatch noise leaves (:func:`start_noise`), which heavy-ball momentum
# multiplies by 1 / (1 - momentum), is kept within this fraction of the
# starting loss. On ten embedding-like problems (200 to 1,536 uncorrelated
# Gaussian features, noisy labels, 2 to 10 classes, 2,500 to 20,000 rows;
# 8% to 32% predicted) 0.9 took the training loss above the starting one in
# most (up to 3 times it), and 2 of the 10 default fits reached parity (test
# log-loss up to 3.7 times the optimum's after 5 epochs, or 302 and 570
# epochs of crawling); capped, 8 of 10, and bench_quality.py's
# embedding_like 16 of 18 instead of 10. Its other dense problems predict at
# most 2.3% (MNIST 0.3%): their momentum stays, but on the 6-, 20- and
# 50-class ones (0.82 to 0.84 instead of 0.9: 9% to 28% fewer epochs, the
# mean test log-loss the same within 0.1%; benchmarks/README.md)
MOMENTUM_NOISE = 0.125

# an averaged fit on the compiled sparse loop judged on a split (the default
# there): its automatic rate is the top-curvature step times what the heavy
# ball of momentum="auto" would multiply it by, 1 / (1 - momentum), at most
# this (that loop takes no momentum: 5 to 7 on these corpora at alpha=1e-4,
# 1.7 on the 5-class, 15-word one at 1e-3, 1 at 1e-2 and above, where 3
# times the rate left a near-tie fit 1.5 points below the optimum's accuracy
# instead of 0.45), its rate is never lowered,
# and at the first stall the split's rows rejoin for the last REJOIN_EPOCHS,
# the average's history weighing one epoch there. bench_sparse.py's four
# corpora, random_state 0 to 2: 12 of 12 fits at held-out parity, in 5 to 9
# epochs (a step 2 times the rate: 12, in 5 to 10; 4 times: 11), where the
# old rule (the rate lowered by 5, the split never trained on, the best epoch
# kept) left the 50-class, 100-word corpus 1.07 points below the optimum's
# test accuracy: models of 90% of its rows are 1.01 to 1.14 points below it
AVERAGED_SPLIT_STEP = 3.0
REJOIN_EPOCHS = 2

# batch_size="auto" with the covariance preconditioner, not averaged, on at
# least COVARIANCE_ROWS rows (the split's counted): its steps are no longer
# held back by correlated features, so the minibatch noise is what limits
# them; on MNIST, steps of 1,024 rows reached held-out parity in 6 epochs
# (256 rows: 8; the diagonal scaling, 1,024 rows: 20), on bench_quality's
# 37,500 rows of 50 classes in 12 to 13 (256 rows: 22, 23 and none); on
# fewer rows, fewer updates an epoch cost more epochs (4,000 rows: 75 to 78
# epochs to parity instead of 15 to 22). An averaged fit keeps 256 (its
# average smooths the noise; at 1,024 the 50-class problem rested 1.2% to
# 1.8% above the optimum's test log-loss, at 256 1% to 2% below, both
# without the last epoch on every row)
COVARIANCE_BATCH = 1024
COVARIANCE_ROWS = 20_000

# the default fit on dense data of at least COVARIANCE_ROWS rows and at most
# COVARIANCE_FEATURES features (:func:`_averaged_covariance`): the covariance
# preconditioner, the average of steps of 256 rows at the automatic rate
# (restarted after the first epoch), judged on a split; its first stall,
# an epoch that gains less than AVERAGED_DENSE_TOL of the split's log-loss,
# starts its last epochs (DENSE_REJOIN_EPOCHS: the first epoch, which the
# average leaves out, is no best to stall against; the gains are read
# against tol alone: the average's scores move smoothly, and the paired
# noise of 2,000 rows hid gains of 1% an epoch on nearly separable data).
# MNIST (random_state 0 to 2), without the rejoin: stalls after 5, 6 and 5
# epochs, test log-loss 0.8% to 1.25% above the optimum's, where the
# diagonal fit (lowered once, then decayed) takes 9 to 10 and ends 1.2% to
# 1.7% above; LARGE_TOL runs 9 to 10 (0.4% to 0.5% above).
# bench_quality.py's 50-class problem (37,500 rows, 6 alphas, 3 seeds): 18
# of 18 fits at parity in 4 to 6 epochs with the last one on every row (82
# in all; 204 before; 3 to 5 without it)
COVARIANCE_FEATURES = 2048
AVERAGED_DENSE_TOL = 5e-3

# at that first stall the split's rows rejoin for this many epochs at the
# rate kept (the average's history weighing one epoch, as REJOIN_EPOCHS on
# sparse data): the model then learns from every row. Without it, the
# 10% held out cost bench_embeddings.py's data 0.19 to 0.50 point of test
# accuracy (seeds 0 to 2, 3 or 4 epochs: two misses; L-BFGS's optimum on
# 90% of those rows is 0.2 to 0.4 below); 1 epoch: 0.20 to 0.25 below (all
# at parity, 4 or 5 epochs), MNIST 6 or 7 epochs (test log-loss 0.1% to
# 0.5% above the optimum's); 2 epochs: 0.11 to 0.19 below, MNIST 7 or 8
DENSE_REJOIN_EPOCHS = 1

# momentum="auto" in an averaged dense fit judged on a split, after its
# first epoch: the excess loss the minibatch noise leaves there (the start's,
# start_noise, times the split's log-loss over the starting loss: the
# residuals shrink with it), which heavy-ball momentum multiplies by
# 1 / (1 - momentum), kept within this fraction of the starting loss; where
# that lowers the momentum, the fit goes on from the first epoch's average,
# at rest. An average at a constant rate rests off the optimum by what its
# steps' noise pushes it, more with momentum: 256 uncorrelated features, 10
# noisy classes (40,000 rows, alpha=1e-4, steps of 1,024 rows), momentum
# 0.83 rested 2.2% above the optimum's test log-loss after 10 epochs, 0.3 at
# 0.5%. On four large dense problems (embedding-like, 20 classes, binary,
# raw-scale features; seeds 0 to 2, alpha=1e-4; without the last epoch on
# every row, DENSE_REJOIN_EPOCHS) 10 of 12 fits at parity
# (0.005: the same 10; 0.06: 9); the momentum goes from 0.34, 0.81, 0.72
# and 0.86 to 0, 0.09, 0 and 0.20 there, on MNIST from 0.74 to 0.71, on the
# 50-class problem from 0.82 to 0.79 (their residuals are small)
AVERAGED_NOISE = 0.015

# where that noise is more than this with plain steps (the momentum then 0),
# the automatic rate is lowered to leave this much: an average at a
# constant rate rests off the optimum by what the steps' noise pushes it,
# and momentum can take back no more than its own share. Many uncorrelated
# features and few classes, labels drawn from a softmax teacher (50,000
# rows of 768 Gaussian features, or 30,000 of 840, 5 classes, alpha=1e-4;
# 3 seeds each): noise 0.079 to 0.092, the average rested 2.0% to 3.4%
# above the optimum's test log-loss after 4 or 5 epochs (5 of 6 fits not at
# parity; 2.8% after 30 epochs; half the rate: 0.1%); lowered, 1.1% below to
# 0.1% above in 4 to 6 epochs (one fit 0.49 point below the optimum's test
# accuracy, at 1% below its log-loss). Below it nothing changes (alpha=1e-4,
# seed 0): MNIST (noise 0.004), bench_quality.py's 50 classes (0.003),
# bench_large_dense.py's problems (0.001 to 0.026) but its 256-feature
# embedding (0.038: lowered by a fifth, the same parity and epochs) and its
# 768-feature one (4 of 12 fits at parity before, 9 now), bench_embeddings.py
# (0.044: 0.997 of the optimum's test log-loss instead of 1.002, 5 epochs)
AVERAGED_RATE_NOISE = 0.03


@dataclass(frozen=True)
class SGDConfig:
    """SGD's hyper-parameters, as the estimator's parameters of the same names."""

    alpha: float = 1e-4
    l1_ratio: float = 0.0
    batch_size: object = "auto"
    learning_rate: str = "auto"
    learning_rate_init: object = "auto"
    power_t: float = 0.5
    momentum: object = "auto"
    nesterov: bool = False
    shuffle: bool = True
    tol: object = "auto"
    n_iter_no_change: int = 1
    early_stopping: object = "auto"
    scoring: str = "loss"
    validation_fraction: float = 0.1
    max_iter: int = 1000
    average: object = "auto"
    parallel: bool = False
    preconditioner: str = "auto"

    def resolved(self, data, previous=None, incremental=False):
        """This config with ``batch_size`` and ``average`` "auto" decided for
        ``data`` (and a stream's ``previous`` state, as plain values), and
        ``early_stopping`` and ``tol``: no split in a stream (``incremental``:
        its caller decides when it stops).

        On data where SGD runs its compiled sparse loop (wide sparse X) of
        more than ``EXACT_ROWS`` rows and without an L1 penalty (whose exact
        zeros an average would blur), averaged steps of 32 rows; on large
        dense data (:func:`_averaged_covariance`) the covariance
        preconditioner (``preconditioner`` decided too), averaged steps of
        256 rows and a split, whose log-loss ``AVERAGED_DENSE_TOL`` judges;
        elsewhere steps of 256 rows, not averaged (on fewer rows epochs are
        cheap and the average, which forgets its early iterates only like
        ``1 / t``, stalls short of held-out parity at small ``alpha``). A
        stream keeps averaging, and the covariance preconditioner's sketch,
        if it started so.
        """
        sparse = sparse_steps(
            data, SPARSE_BATCH if self.batch_size == "auto" else self.batch_size
        )
        covariance = _averaged_covariance(self, data, previous, incremental)
        preconditioner = self.preconditioner
        if preconditioner == "auto" and previous is not None:  # as the stream began
            sketched = previous["scaling"].get("sketch") is not None
            preconditioner = "covariance" if sketched else "diagonal"
        elif preconditioner == "auto":
            preconditioner = "covariance" if covariance else "diagonal"
        average = self.average
        if average == "auto" and previous is not None:
            average = previous.get("average") is not None
        elif average == "auto":
            average = covariance or (
                sparse and not self.l1 and data.n_samples > EXACT_ROWS
            )
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = SPARSE_BATCH if sparse and average else 256
        batch_size = int(batch_size)  # True passes the Integral constraint: 1
        early_stopping = self.early_stopping
        if incremental:
            early_stopping = False
        elif early_stopping == "auto":
            early_stopping = covariance or (sparse and data.n_samples > EXACT_ROWS)
        tol = self.tol
        if tol == "auto" and covariance:
            tol = AVERAGED_DENSE_TOL
        elif tol == "auto":
            per_row = data.row_nnz() or data.loss.n_features
            small = data.n_samples * per_row <= SMALL_VALUES
            tol = SMALL_TOL if small and not early_stopping else LARGE_TOL
        return dataclasses.replace(
            self,
            batch_size=batch_size,
            average=bool(average),
            tol=tol,
            early_stopping=bool(early_stopping),
            preconditioner=preconditioner,
        )

    @property
    def average_criterion(self):
        """Whether the epoch's criterion is the averaged model's objective:
        averaging, no validation split, and a stopping criterion (``tol``
        not None). A pass that can score the average cheaply does it then."""
        return bool(self.average) and not self.early_stopping and self.tol is not None

    @property
    def l2(self):
        """Strength of ``||W||^2 / 2`` in the objective."""
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def l1(self):
        """Strength of ``||W||_1`` in the objective."""
        return self.alpha * self.l1_ratio

    def penalty(self, data, coef):
        """The penalty of ``coef`` in the objective (a host float)."""
        return data.loss.penalty(coef, self.l2, self.l1)

    def sample_objective(self, data, coef):
        """The objective of ``coef``: its loss on a sample of ``data``'s
        training rows plus the penalty."""
        return data.sample_loss(coef) + self.penalty(data, coef)

    @property
    def step_momentum(self):
        """The momentum the updates use: none with an L1 penalty, whose
        cumulative clipping momentum would keep undoing (measured: the L1
        norm grew 30x in 8 epochs on a TF-IDF problem)."""
        return 0.0 if self.l1 else self.momentum

    def with_momentum(self, state, data, stream=False):
        """This config with ``momentum="auto"`` decided from the state's step
        scaling (see :func:`auto_momentum`) and, on dense ``data``, capped
        where the steps are noisy (:func:`start_noise`; ``stream``: ``data``
        is a chunk of a stream). Not in a fit with the covariance
        preconditioner that does not average, whose batches are large
        (``COVARIANCE_BATCH``); in its streams, whose chunks may be single
        rows, yes (chunks of 1 and 3 rows, momentum 0.9: held-out log-loss
        1.50 and 1.66, capped 0.38), and in its averaged fits (whose noise
        the average keeps: see :data:`AVERAGED_NOISE`)."""
        if self.momentum != "auto":
            return self
        momentum = auto_momentum(state, self.alpha)
        lowrank = state.scaling.lowrank
        if data.row_nnz() is None and (stream or lowrank is None or self.average):
            noise = start_noise(state, self.batch_size, data, stream)
            momentum = min(momentum, max(1.0 - noise / MOMENTUM_NOISE, 0.0))
        return dataclasses.replace(self, momentum=float(momentum))

    @classmethod
    def from_params(cls, params):
        """The config of an estimator's ``get_params()``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


def auto_momentum(state, alpha):
    """Heavy-ball momentum for the problem's conditioning: 0.9 where the
    penalty leaves the curvature spread wide, less where it dominates.

    With ``eta0 = 1 / L`` the automatic rate, the penalty bounds the
    preconditioned curvature of the weights from below by
    ``mu = alpha * min_j precond_j``; Polyak's momentum for a condition
    number ``kappa = L / mu`` is ``((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2``,
    here capped at 0.9. At ``alpha = 1`` on standardised data ``kappa`` is
    about 2 and the momentum about 0.03: 0.9 would make the steps ring
    (the loss swinging from epoch to epoch) where plain steps converge.
    """
    scaling = state.scaling
    # X's machine epsilon (the scaling is in X's dtype), as the scaling read
    eps = float(get_namespace(scaling.precond).finfo(scaling.precond.dtype).eps)
    precond = np.asarray(to_numpy(scaling.precond), dtype=np.float64)
    n_features = scaling.moments.sq_sum.shape[0]
    precond = precond[:n_features]
    if scaling.center is not None:
        # a feature without a spread the steps resolve is scaled as
        # uncentered (feature_preconditioner): its weight, about 0 and
        # moved only by rounding noise, sets no pace
        precond = precond[~unresolved_spread(scaling.moments, eps)]
    smallest = float(np.min(precond, initial=np.inf))
    if state.scaling.lowrank is not None:  # the covariance preconditioner's
        smallest = float(state.scaling.lowrank.smallest)
    q = state.rate.eta0 * alpha * smallest
    q = min(max(q, 0.0), 1.0)
    return min(MAX_MOMENTUM, ((1.0 - np.sqrt(q)) / (1.0 + np.sqrt(q))) ** 2)


def start_noise(state, batch_size, data, stream=False):
    """The excess loss that the start rate's minibatch noise leaves with
    plain steps, as a fraction of the starting loss:
    ``eta0 v S (1/B - 1/n) / (4 L0)``.

    SGD at rate ``eta`` on a quadratic settles ``eta tr(Sigma) / (4 B)``
    above its minimum, ``Sigma`` the covariance of one row's gradient and
    ``B`` the batch size (``1/B - 1/n`` for a batch drawn from ``n`` rows
    without replacement: no noise where it holds them all). At the start
    (the zero model) the trace of the preconditioned gradient's covariance
    is about ``v S``: ``v`` the mean squared residual there (``1 - 1/K`` of
    ``K`` classes, ``1/4`` for the binomial model) and ``S`` the
    preconditioned features' second moments summed (``sum_j p_j E[x_j^2]``,
    and the intercept's ``p``; with the covariance preconditioner the trace
    of ``P E[x x^T]``, its low-rank term's share read from the sketch);
    ``L0`` is the starting loss, ``log K``. A
    large ``S`` at the automatic rate means many directions of about the top
    curvature: momentum speeds nothing up there, it only multiplies the
    noise.
    """
    scaling = state.scaling
    # what the preconditioner read (host float64, as every ColumnMoments)
    second = scaling.moments.mean_squares(scaling.center is not None)
    precond = np.asarray(to_numpy(scaling.precond), dtype=np.float64)
    n_features = second.shape[0]
    spread = float(precond[:n_features] @ second)
    spread += float(np.sum(precond[n_features:]))  # the intercepts' (x = 1)
    lowrank, sketch = scaling.lowrank, scaling.sketch
    if lowrank is not None and sketch is not None and sketch.total:
        # the covariance preconditioner's low-rank term: its share of the
        # trace (negative: it shortens the steps along correlated directions)
        basis = np.asarray(to_numpy(lowrank.basis), dtype=np.float64)
        along = sketch.mean_squares_along(basis, scaling.center is not None)
        spread += float(np.asarray(to_numpy(lowrank.shrink), np.float64) @ along)
    n_classes, n_samples = data.loss.n_classes, max(data.n_samples, 1)
    residual = 0.25 if n_classes == 2 else 1.0 - 1.0 / n_classes
    # a stream's chunk is a sample of the stream, not the population
    population = np.inf if stream else n_samples
    sampling = max(1.0 / min(batch_size, n_samples) - 1.0 / population, 0.0)
    noise = state.rate.eta0 * residual * spread * sampling / 4.0
    return float(noise / np.log(n_classes))


def sparse_steps(data, batch_size):
    """Whether SGD steps of ``batch_size`` rows run the compiled sparse loop
    on ``data``: wide sparse rows, a batch touching under half the columns
    (see :func:`~._passes.runs_sparse_loop`)."""
    nnz = data.row_nnz()
    return nnz is not None and nnz * batch_size < 0.5 * data.loss.n_features


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
        The state to resume from (its parameters are ``coef``).
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
            t_=self.state.params.t,
        )
        if self.validation_scores is not None:
            attributes.update(
                validation_scores_=self.validation_scores,
                best_validation_score_=self.best_validation_score,
            )
        return attributes


@dataclass
class Run:
    """One run of the solver: what its steps share.

    ``history`` is the stopping rule's (a stream's is the state's own, carried
    across calls; a fit's starts fresh); ``best`` keeps early stopping's
    best weights.
    """

    config: SGDConfig
    schedule: Schedule
    train: object
    validation: object
    state: SGDState
    stopping: StoppingRule
    history: object
    best: BestWeights
    incremental: bool
    rng: object
    loss_curve: list = dataclasses.field(default_factory=list)
    scores: list = dataclasses.field(default_factory=list)
    converged: bool = False
    last: tuple = None  # the last epoch's (criterion, score, model, report)
    # the starting model's objective: its loss on a sample of rows plus the
    # penalty (at this call's alpha, which may be larger than the last's)
    start_objective: float = None
    noise: float = 0.0  # the last validation score's noise against the best
    # the standard error of the last training criterion where it is the
    # pass's loss (an estimate from its minibatches), else None
    loss_noise: float = None
    rows: tuple = None  # the split's rows under the last model (losses, ...)
    best_rows: tuple = None  # ... under the best model
    rejoined: bool = False  # whether the split's rows train now (_rejoin)

    @property
    def ends_rejoined(self):
        """Whether the run's model is its rejoined epochs' (an averaged run
        whose split's rows train now): no split judges those epochs, so none
        of them is a held-out best, and the best epoch is not restored."""
        return self.rejoined and bool(self.config.average)


class SGDSolver:
    """Minibatch SGD over a training-data object.

    Parameters
    ----------
    config : SGDConfig
        As the estimator's parameters; never changed by a run, so a solver
        can run again, on other data.
    """

    def __init__(self, config):
        self.config = config

    def run(
        self, data, hooks, rng, *, previous=None, coef0=None, incremental=False,
        seen=None,
    ):  # fmt: skip
        """Train on ``data``; return an :class:`SGDResult`.

        ``fit``: up to ``max_iter`` epochs from ``coef0`` (or zeros), until
        the stopping rule fires; with early stopping a validation part of
        ``data`` is held out and the best epoch's weights are kept.
        ``partial_fit`` (``incremental=True``): one epoch resumed from the
        ``previous`` state (as :meth:`SGDState.to_plain` gave it) and the
        parameters ``coef0`` (the model's), whose stopping rule and schedule
        carry on; a stream is never stopped, and never warned about.
        ``seen``: a full-batch fit's rows (``SolverResult.seen``), which a
        stream's first call from its model scales its steps by, with its own.

        ``hooks`` (:class:`~sk_softmax._callbacks.TrainingHooks`) sees every
        epoch; ``rng`` (a ``RandomState``) draws the split and the batches.
        Overflow on the way to a divergence is no NumPy warning: the
        divergence check raises the error that says what to change.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            run = self.setup(data, rng, previous, coef0, incremental, seen)
            for _ in range(1 if incremental else run.config.max_iter):
                if self.epoch(run, hooks):  # a callback asked to stop
                    self.judge(run)  # the epoch still competes for the best
                    break
                if self.check(run, hooks):
                    break
            return self.finalize(run)

    # ------------------------------------------------------------ the steps
    def setup(self, data, rng, previous, coef0, incremental, seen=None):
        """The run: the resolved config, early stopping's split, the state
        (fresh, or a stream's resumed) and the stopping rule."""
        config = self.config.resolved(data, previous, incremental)
        schedule = Schedule(config.learning_rate, config.power_t)
        validation, n_rows = None, data.n_samples  # (the split's rows counted)
        if config.early_stopping:
            # the compiled row keys where the steps run compiled code
            compiled = _runs_compiled(data, config)
            data, validation = data.split(config.validation_fraction, rng, compiled)
        if previous is not None:
            state = SGDState.from_plain(previous, coef0)
            state = self.resume(config, schedule, state, data)
        else:
            state = self.start(config, schedule, data, coef0, seen)
        if (
            self.config.batch_size == "auto"
            and state.scaling.lowrank is not None
            and not config.average
            and n_rows >= COVARIANCE_ROWS
        ):  # better-conditioned steps: fewer, larger ones pay (less noise)
            config = dataclasses.replace(config, batch_size=COVARIANCE_BATCH)
        config = config.with_momentum(state, data, incremental)
        if (  # the compiled sparse loop's averaged steps judged on a split
            previous is None
            and _averaged_split(config, validation)
            and config.learning_rate_init == "auto"
            and sparse_steps(data, config.batch_size)
        ):
            ball = 1.0 / (1.0 - auto_momentum(state, config.alpha))
            state.rate.rescale(min(ball, AVERAGED_SPLIT_STEP))
        patience = config.n_iter_no_change
        if incremental:  # a chunk's loss is noisier than an epoch's
            patience = max(patience, STREAM_PATIENCE)
        else:  # at least the updates its momentum's swings take to fade
            patience = _spanning(
                patience, _swing_updates(config.momentum), data, config
            )
        stopping = StoppingRule(
            tol=config.tol,
            n_iter_no_change=patience,
            validation=validation is not None,
            stream=incremental,
        )
        history = state.stopping if incremental else stopping.init()
        # the best model seen is kept (not on the compiled sparse loop, whose
        # averaged objective settles, and whose weights may be very many; not
        # without a stopping criterion, tol=None, but for a split's best)
        keep = validation is not None or not (
            incremental or sparse_steps(data, config.batch_size) or config.tol is None
        )
        best = BestWeights(data.copy) if keep else None
        run = Run(
            config, schedule, data, validation, state, stopping, history, best,
            incremental, rng,
        )  # fmt: skip
        run.start_objective = np.log(data.loss.n_classes)  # zeros' loss
        if coef0 is not None:  # the model's (with averaging: not the iterate)
            run.start_objective = config.sample_objective(data, data.asarray(coef0))
        elif previous is not None:
            state.sync()
            run.start_objective = config.sample_objective(data, state.params.coef)
        return run

    def start(self, config, schedule, data, coef0=None, seen=None):
        """A fresh state: step scaling from ``data`` (and the rows ``seen``
        already, see :meth:`run`), parameters ``coef0`` or 0."""
        # the compiled sums where the steps run compiled code (see split)
        moments = data.column_stats(compiled=_runs_compiled(data, config))
        rows = data.training_rows()
        if seen is not None:
            # after a full-batch fit its rows count as seen: a first chunk
            # alone (one row varies in no feature) would step every weight
            # by 1 / alpha
            fields = {name: seen[name] for name in ColumnMoments._fields}
            moments = ColumnMoments(**fields).combine(moments)
            rows += int(seen["rows"])
        centered = _centers(config, data, moments)
        scaling = sgd_scaling(
            moments,
            functools.cache(data.host_sample),
            data.loss,
            config.alpha,
            config.learning_rate_init,
            centered,
            _covariance(config, data),
            eps=data_precision(data),
        )
        precond, center, eta0 = scaling.precond, scaling.center, scaling.eta0
        _check_step_scaling(precond, data)
        scratch = None
        if coef0 is not None:
            coef = data.asarray(coef0)
        elif sparse_steps(data, config.batch_size):
            # the sparse loop keeps its columns' weights aside: the parameters
            # are allocated when written back (see CompactWeights)
            coef = LazyZeros(data.zeros(0), shape=(data.loss.n_coef,))
            scratch = SparseScratch(nonzero_columns=np.empty(0, np.intp))
        else:
            coef = data.zeros(data.loss.n_coef)
        if not centered:
            moments = moments._replace(sum=None, m2=None)
        return SGDState(
            params=Params(coef),
            scaling=Scaling(
                data.asarray(precond),
                None if center is None else data.asarray(center),
                moments,
                _placed(scaling.lowrank, data),
                scaling.sketch,
                rows,
            ),
            rate=schedule.init(
                eta0, config.max_iter, config.learning_rate_init != "auto"
            ),
            stopping=StoppingRule(
                tol=config.tol, n_iter_no_change=config.n_iter_no_change, stream=True
            ).init(),
            scratch=scratch,
        )

    def resume(self, config, schedule, state, data):
        """A copy of ``state`` that continues on ``data`` (``partial_fit``).

        The new data's feature statistics join the preconditioner; parameters
        changed since the last call take effect from this call on.
        """
        loss = data.loss
        if state.scaling.precond.shape[0] != loss.n_features + loss.fit_intercept:
            raise ValueError(
                "fit_intercept was changed since the first partial_fit call; set "
                "it back, or call fit to start a new model."
            )
        state = state.map_arrays(data.asarray)
        # a rate read from rows that could not tell the curvature (no more
        # rows than features: some direction did not vary among them; a
        # first call of one row steps the intercept alone) is read again on
        # this chunk, the lower kept, while the rows seen are no more than
        # the features (and fewer than the CURVATURE_ROWS a fit reads it
        # from). A stream of single rows: weights up to 136 and a held-out
        # log-loss of 11.9 where fit's is 0.61; now 3.4 and 0.77
        seen = state.scaling.rows
        unsure = seen is not None and seen < min(loss.n_features + 1, CURVATURE_ROWS)
        # the parameter as it is now: the sketch on or off
        state.scaling, (precond, center, lowrank) = _joined_scaling(
            state.scaling, data, config, _sketched(config, data)
        )
        args = (loss.n_classes, loss.fit_intercept, config.alpha, center, lowrank)

        def auto_rate():  # "auto" set back after a rate of the user's
            return top_curvature_step(*data.host_sample(), precond, *args)

        schedule.resume(
            state.rate, config.learning_rate_init, config.max_iter, auto_rate, unsure
        )
        if not state.stopping.stream:  # a stream after fit
            state.stopping = StoppingRule(
                tol=config.tol, n_iter_no_change=config.n_iter_no_change, stream=True
            ).init()
        return state

    def epoch(self, run, hooks):
        """One epoch: a pass over the training rows, its criterion (the
        averaged model's objective with averaging), the validation score,
        the hooks. True when a callback asks to stop."""
        config, state = run.config, run.state
        if config.average and state.params.epoch == 1 and not _compiled_split(run):
            # the average leaves out the first epoch's path from the start
            # (where the split's rows rejoin, that shortens it: _rejoin)
            restart_average(state)
        hooks.epoch_begin(self.model(run) if hooks.reads_parameters else None)
        tic = time.perf_counter()
        record = self.one_pass(run)
        state = run.state  # (a Dask pass hands back a new one)
        state.params.epoch += 1
        if isinstance(record.loss, float):  # on the host already: free
            check_divergence(record.loss, state, run.train.loss.n_classes)
        criterion, model = self.criterion(run, record)
        check_divergence(criterion, state, run.train.loss.n_classes)
        run.loss_curve.append(criterion)
        score = None
        if run.validation is not None:
            score, model = self.validate(run)
            run.scores.append(score)
            if state.params.epoch == 1 and self.config.momentum == "auto":
                model = _settle_steps(run, model)
        seconds = time.perf_counter() - tic
        if hooks.reads_parameters and (model is None or callable(model)):
            model = self.model(run)  # for the listeners (whole)
        report = EpochReport(
            epoch=state.params.epoch,
            loss=criterion,
            validation_score=score,
            progress=record.progress,
            rates=record.rates,
            eta0=state.rate.eta0,
            seconds=seconds,
            validation_metric=None
            if score is None
            else ("log_loss" if config.scoring == "loss" else "accuracy"),
        )
        run.last = (criterion, score, model, report)
        if hooks.epoch_end(state.params.coef if model is None else model, report):
            run.converged = True  # a callback asked to stop: no ConvergenceWarning
            return True
        return False

    def validate(self, run):
        """The epoch's validation score and the model it was read at: the
        whole model, or where a sparse pass keeps the weights in pieces and
        the split's rows use few columns, a :class:`~._passes.CompactModel`
        (the split scored on its columns' weights alone: a model of
        ``n_classes * n_features`` weights is not assembled every epoch).
        The rows' losses are kept for the next epoch's noise
        (:func:`_validation_score`)."""
        columns = run.validation.used_columns()
        view = None if columns is None else weights_on(run.state, columns)
        if view is None:
            model = self.model(run)
            rows = run.validation.evaluate(model)
        else:
            model = functools.partial(CompactModel, run.state)
            rows = run.validation.evaluate(view=view)
        score, run.noise = _validation_score(rows, run.config.scoring, run.best_rows)
        if not np.isfinite(score):  # the training rows' loss was finite
            raise ValueError(
                f"The validation split's log-loss is {-score:.3g} at epoch "
                f"{run.state.params.epoch}: some of its rows have values too "
                f"large for the model's scores in {run.train.dtype}, which no "
                "training row has. Scale the data (e.g. StandardScaler)"
                f"{_float64_hint(run.train.dtype)}. The model was left as it "
                "was before this call."
            )
        run.rows = rows
        return score, model

    def criterion(self, run, record):
        """The epoch's training criterion, and the model it was read at (or
        None): with averaging, the averaged model's objective; on small data
        without a validation split, the model's exact objective (a host
        read); else, and always without a stopping criterion (``tol=None``:
        no work beyond the pass's), the pass's loss, its minibatches' mean
        taken before each update (read from where the pass ran, once)."""
        config, state, train = run.config, run.state, run.train
        if config.average_criterion:  # the model: the average
            if record.average_loss is None:
                average = state.averaged()
                record.average_loss = train.objective(average, config.l2, config.l1)
            return record.average_loss, None
        if config.tol is None:
            return float(record.loss), None
        exact = run.validation is None and run.best is not None
        if exact and train.n_samples <= EXACT_ROWS:
            model = self.model(run)
            return train.objective(model, config.l2, config.l1), model
        if run.validation is not None or run.incremental:
            return float(record.loss), None
        # the pass's loss is the criterion: so is its noise (StoppingRule)
        loss, run.loss_noise = record.read()
        return loss, None

    def one_pass(self, run):
        """One pass of minibatch SGD over the training rows; returns its
        :class:`~._passes.PassResult`.

        On data in chunks (Dask), a chain of chunk passes, each where its
        chunk lives; with ``parallel``, a data-parallel epoch instead: every
        chunk's pass starts from the same state, side by side, and the
        resulting models are mixed into one (:func:`_mix`).
        """
        fn = functools.partial(_rows_pass, config=run.config, schedule=run.schedule)
        carry = (run.state, [])
        shuffle = run.config.shuffle
        if run.config.parallel:
            mix = functools.partial(_mix, t0=run.state.params.t)
            run.state, records = run.train.fold_parallel(
                fn, carry, run.rng, shuffle, ship=_ship, combine=mix
            )
        else:
            run.state, records = run.train.fold(fn, carry, run.rng, shuffle, ship=_ship)
        if run.incremental:  # a shipped state's history is a copy
            run.state.stopping = run.history
        if len(records) == 1:
            return records[0]
        weight = sum(r.weight for r in records)
        return PassResult(
            loss=sum(r.loss * r.weight for r in records) / weight,
            weight=weight,
            progress=[p for r in records for p in r.progress],
            rates=[eta for r in records for eta in r.rates],
            **joined_batches(records),
        )

    def judge(self, run):
        """The stopping rule's verdict on the epoch (its history updated),
        and the epoch's model kept if it is the best so far; returns
        ``(verdict, once)``, ``once`` whether "auto" lowers the rate once
        (see :meth:`check`). Also where a callback ends the run: its last
        epoch competes for the best too."""
        criterion, score, model, _ = run.last
        state, stopping, history = run.state, run.stopping, run.history
        value = None if score is None else -score
        dense_split = _dense_averaged_split(run)
        estimate = run.loss_noise is not None and run.schedule.name == "auto"
        # "auto" lowers the rate once on large data not averaged, whether its
        # criterion is the pass's loss or a split's log-loss
        once = estimate or (
            run.schedule.name == "auto"
            and run.validation is not None
            and not run.config.average
            and run.train.n_samples > EXACT_ROWS
        )
        loss_noise = 0.0
        if estimate and not run.schedule.lowered(state.rate):
            loss_noise = run.loss_noise  # at the start rate only
        # a stream's window holds enough rows (see StoppingRule)
        rows = run.train.n_samples if run.incremental else None
        if dense_split and state.params.epoch == 1:
            # the average leaves this epoch out: not a best to stall against
            verdict = Verdict(True, None)
        else:
            noise = 0.0 if dense_split else run.noise
            verdict = stopping.update(
                history, criterion, value, noise, loss_noise, rows=rows
            )
        if verdict.new_best and not run.ends_rejoined:
            run.best_rows = run.rows
            if callable(model):  # the model in pieces (CompactModel)
                run.best.keep(model(), score, owned=True)
            else:
                run.best.keep(model, score, owned=model is not state.params.coef)
        elif run.best is not None and score is None:  # the training objective
            if run.best.score is None or criterion < run.best.score:
                run.best.keep(self.model(run) if model is None else model, criterion)
        return verdict, once

    def check(self, run, hooks):
        """The stopping rule's verdict on the epoch and the schedule's answer:
        True when the run is over.

        Where the criterion is the pass's loss (more than ``EXACT_ROWS`` rows,
        no split, no average), "auto" reads it as the estimate it is: at the
        start rate an improvement must exceed the loss's standard error
        (there the loss settles at the rate's noise floor, which the first
        lowering removes at once), and the rate is lowered once, the next
        stall starting the decay (each lowering costs whole epochs of many
        updates; the user guide has the measurements). The rate is lowered
        once, and the decay sized, likewise where the criterion is a
        validation split's log-loss on such data (``early_stopping=True``,
        not averaged)."""
        _, _, _, report = run.last
        state, stopping, history = run.state, run.stopping, run.history
        verdict, once = self.judge(run)
        # a split whose rows train again is no held-out judge: no stall
        stalled = None if run.rejoined else verdict.stalled
        reaction = None
        if not run.incremental:
            reaction = run.schedule.after_epoch(
                state.rate,
                stopping.criterion(history),
                state.params.epoch,
                stalled,
                _decay_epochs(run),
                once=once,
                averaged=_averaged_split(run.config, run.validation),
            )
        if reaction is None and stalled:
            lowered = stopping.improved_since_lowering(history) and (
                run.schedule.on_stall(state.rate, run.incremental)
            )
            reaction = "lowered" if lowered else "stop"
            if lowered:
                stopping.lowered(history)
        elif reaction == "lowered":
            stopping.lowered(history, mark=False)
        if reaction == "lowered":
            rate = state.rate
            decays = rate.decay_start == state.params.epoch  # starts now
            hooks.rate_lowered(
                rate.eta, rate.decay_epochs if decays else None, rate.flat_end
            )
            if rate.decay_start is not None:
                _rejoin(run)
        if reaction != "stop" or run.incremental:
            return False
        run.converged = True
        if stopping.unsettled(history) is not None:
            stopping.warn_unsettled(history, report.rates[-1])
        return True

    def finalize(self, run):
        """The model kept (the average, or early stopping's best weights), the
        final checks and warnings; the :class:`SGDResult`."""
        config, state = run.config, run.state
        if config.average and not run.incremental:
            # the model is the average; a stream after this fit goes on from it
            settle_average(state)
        # the last update is in no epoch's loss: check where the run ended
        # (where a sparse pass keeps the model in pieces, there: the sample's
        # columns read, the weights' finiteness from their compact copy)
        kept = kept_model(state)
        if kept is not None:
            weights_of, finite = kept
            loss = run.train.sample_loss(None, weights_of) if finite else np.inf
        checked = kept is not None  # its weights' finiteness: read above
        # early stopping's best weights: where a sparse pass keeps its
        # epoch's weights, they take the last one's place before the
        # write-back (one write of the weights, not two)
        restore = run.best is not None and run.best.coef is not None
        restore = restore and not run.ends_rejoined
        restore = restore and (
            run.validation is not None or run.best.score < run.loss_curve[-1]
        )
        best = run.best.coef if restore else None
        if isinstance(best, CompactModel) and best.put_back(state):
            best, checked = None, kept_model(state)[1]
        state.sync(release=True)
        coef = self.model(run)
        if kept is None:
            loss = run.train.sample_loss(coef)
        check_divergence(loss, state, run.train.loss.n_classes)
        objective = loss + config.penalty(run.train, coef)
        if objective > 2 * run.start_objective + 0.1:
            warn_worse(run.start_objective, objective, state, run.incremental)
        elif run.validation is not None and config.scoring == "loss":
            warn_worse_than_uniform(-run.best.score, state, run.train.loss.n_classes)
        ended = run.converged or run.schedule.ends_at_max_iter
        if not (ended or run.incremental or config.tol is None):
            run.stopping.warn_not_converged(config.max_iter)
        result = SGDResult(
            coef=coef,
            n_iter=state.params.epoch,
            checked=checked,
            state=state,
            loss_curve=run.loss_curve,
        )
        if restore:  # partial_fit / warm_start go on from the kept weights, at rest
            if best is not None:  # not put back above
                if isinstance(best, CompactModel):  # into the last model, in place
                    best = best.write_into(state.params.coef, run.train.loss)
                else:
                    best = run.train.copy(best)
                state.params.coef = result.coef = best
                result.checked = False  # not the model checked above
            state.momentum = state.average = None
        if run.validation is not None:
            result.validation_scores = run.scores
            result.best_validation_score = run.best.score
        return result

    def model(self, run):
        """The parameters the model is at this point of the run: the average
        with averaging (a new array), else the iterate."""
        if run.config.average:
            return run.state.averaged()
        run.state.sync()
        return run.state.params.coef


def _runs_compiled(data, config):
    """Whether the steps run compiled code (the sparse loop, the dense
    batches: either loads Numba), so that the setup's passes over ``X`` may
    too (the split's row keys, the column sums)."""
    return sparse_steps(data, config.batch_size) or compiled_batches(
        data.X, data.loss.n_rows
    )


def _seen_with(scaling, data, config, sketched, resketch=True):
    """``(moments, sketch, rows)``: the statistics of the rows ``scaling``
    has seen, with ``data``'s rows joined (a stream's next call, or the
    split's rows rejoining a fit); the covariance sketch where ``sketched``
    (started from ``data`` where there was none; ``resketch=False``: one
    there is stays as it is)."""
    seen = scaling.moments
    chunk = data.column_stats(compiled=_runs_compiled(data, config))
    if seen.sum is not None:  # centered
        moments = seen.combine(chunk)
    else:
        moments = ColumnMoments(
            None, seen.sq_sum + chunk.sq_sum, None, seen.total + chunk.total
        )
    sketch = None
    if sketched and not resketch and scaling.sketch is not None:
        sketch = scaling.sketch
    elif sketched:
        sketch = input_sketch(*data.host_sample(), chunk.total)
        if scaling.sketch is not None:
            sketch = scaling.sketch.combine(sketch)
    rows = None if scaling.rows is None else scaling.rows + data.training_rows()
    return moments, sketch, rows


def _joined_scaling(scaling, data, config, sketched, resketch=True):
    """The step scaling of the rows ``scaling`` has seen with ``data``'s rows
    joined (:func:`_seen_with`): their statistics and the preconditioner
    (and centering, as the run started) they give. Returns the
    :class:`Scaling` and its host ``(precond, center, lowrank)``."""
    loss = data.loss
    centered = scaling.moments.sum is not None
    moments, sketch, rows = _seen_with(scaling, data, config, sketched, resketch)
    lowrank = None
    if sketch is not None and not config.l1:
        # the same sketch: its leading directions sought where they were found
        start = None
        if sketch is scaling.sketch and scaling.lowrank is not None:
            start = scaling.lowrank.subspace
            start = None if start is None else np.asarray(to_numpy(start), np.float64)
        precond, center, lowrank = covariance_preconditioner(
            moments,
            sketch,
            loss,
            config.alpha,
            centered,
            eps=data_precision(data),
            start=start,
        )
    else:
        precond, center = feature_preconditioner(
            moments,
            loss,
            config.alpha,
            centered and not config.l1,
            data_precision(data),
        )
    _check_step_scaling(precond, data)
    joined = Scaling(
        data.asarray(precond),
        None if center is None else data.asarray(center),
        moments,
        _placed(lowrank, data),
        sketch,
        rows,
    )
    return joined, (precond, center, lowrank)


def _rejoin(run):
    """Early stopping's split rejoins the training rows for "auto"'s final
    decay: the split has decided where the fit ends (the decay runs to its
    end, no longer cut short by a score on rows it trains on), and the
    model learns from every row. The steps' scaling is every row's then
    (:func:`_joined_scaling`, as a stream's next call): a feature that no
    training row uses but a split's row does would otherwise step by
    ``1 / alpha``, and its weights blow up (a standardised digits column
    non-zero in one row: 57 where the optimum has 0.2). The rate goes on.
    An average keeps its history at one epoch's weight (the last epoch's
    steps summed): the rejoined epochs, which learn the split's rows too,
    weigh twice as much in the final model (restarted, on bench_sparse.py's
    5-class short-document corpus at 4 times the automatic rate: 0.09 to
    0.45 point below the optimum's test accuracy over seeds 0 to 2, and
    0.22 to 0.33 so). On the compiled sparse loop only averaged:
    its pass keeps the training rows' columns between epochs, and carries
    them into the layout of every row (:func:`~._passes.sgd_pass`)."""
    whole, config, state = run.train.whole, run.config, run.state
    if run.rejoined or whole is None:
        return
    compiled = sparse_steps(whole, config.batch_size)
    if compiled and not config.average:
        return
    if not compiled:  # (the compiled pass carries its weights over)
        state.sync()
    if config.average:
        _, _, _, report = run.last
        shorten_average(state, float(np.sum(report.rates)))
    # the covariance sketch stays the training rows' sample: the split is a
    # random tenth of the same rows, and sketching its sample too (two QRs)
    # made the rejoin cost 137 ms on MNIST instead of 33 (its test log-loss
    # the same within 0.01%, seeds 0 to 2); the exact moments join, as above,
    # and the preconditioner's directions are sought where they were found
    # (:func:`_joined_scaling`: 13 ms instead of 33)
    state.scaling, _ = _joined_scaling(
        state.scaling,
        run.validation,
        config,
        state.scaling.sketch is not None,
        resketch=False,
    )
    run.train, run.rejoined = whole, True


def _swing_updates(momentum):
    """The fewest updates a fit's patience spans at ``momentum``: the
    :data:`PATIENCE_UPDATES` of ``MAX_MOMENTUM`` (and above), fewer below,
    as many as its heavy ball's swings take to fade as much (a swing's
    amplitude falls by ``sqrt(momentum)`` an update: 0.9's by 14 over 50
    updates, 0.5's in 8, 0.03's in 2; 1 without momentum).

    Tiny data has few updates an epoch (iris, 105 rows: one), and 50 of them
    were 50 epochs at every stall even where ``alpha`` sets the momentum
    near 0 (the penalty dominates the curvature): standardised iris at
    ``alpha=1`` took 158 epochs where 5 reach held-out parity.
    """
    momentum = float(momentum)
    if momentum <= 0.0:
        return 1
    if momentum >= MAX_MOMENTUM:
        return PATIENCE_UPDATES
    return math.ceil(PATIENCE_UPDATES * math.log(MAX_MOMENTUM) / math.log(momentum))


def _spanning(epochs, updates, data, config):
    """``epochs``, or more: enough of ``data``'s epochs (minibatches of
    ``config.batch_size``) for ``updates`` updates."""
    per_epoch = -(-data.n_samples // config.batch_size)
    return max(epochs, -(-updates // per_epoch))


def _decay_epochs(run):
    """The length of the "auto" schedule's final decay: for an averaged
    model judged on a validation split its last epochs, the split's rows
    rejoined, at the rate kept (:data:`REJOIN_EPOCHS` on the compiled sparse
    loop, :data:`DENSE_REJOIN_EPOCHS` elsewhere); else the patience, at
    least 2 epochs and :data:`PATIENCE_UPDATES` updates whatever the
    momentum (the patience's floor follows the momentum's swings, the
    decay's the noise it averages away: with the decay as short as the
    patience, ``bench_quality.py``'s default fits at parity went from 242
    of 270 to 238, with it this long to 246)."""
    if _averaged_split(run.config, run.validation):
        return REJOIN_EPOCHS if _compiled_split(run) else DENSE_REJOIN_EPOCHS
    patience = max(2, run.stopping.n_iter_no_change)
    return _spanning(patience, PATIENCE_UPDATES, run.train, run.config)


def _compiled_split(run):
    """Whether the fit is averaged, judged on a split, on the compiled sparse
    loop: at its first stall the split's rows rejoin (:data:`REJOIN_EPOCHS`).
    Elsewhere (dense data) such a fit restarts its average after the first
    epoch and rejoins them for :data:`DENSE_REJOIN_EPOCHS` (see
    :data:`AVERAGED_DENSE_TOL`)."""
    return _averaged_split(run.config, run.validation) and sparse_steps(
        run.train, run.config.batch_size
    )


def _dense_averaged_split(run):
    """Whether the fit is averaged and judged on a split, on dense data (not
    the compiled sparse loop): see :data:`AVERAGED_DENSE_TOL`."""
    return _averaged_split(run.config, run.validation) and not _compiled_split(run)


def _averaged_covariance(config, data, previous, incremental):
    """Whether ``"auto"`` takes the covariance preconditioner, an average
    and a split (see :data:`AVERAGED_DENSE_TOL`): a fit (not a stream's
    call) on dense data of at least ``COVARIANCE_ROWS`` rows and at most
    ``COVARIANCE_FEATURES`` features without an L1 penalty, with the
    ``"auto"`` schedule, rate and momentum (the rule sets its momentum
    after the first epoch and never lowers its rate: a momentum of 0.9
    asked for on ``bench_embeddings.py``'s data ended 2.3 times the
    optimum's test log-loss after 5 epochs, where the per-feature rule's
    lowerings reach parity), where none of the three is switched off."""
    return (
        previous is None
        and not incremental
        and data.row_nnz() is None
        and not config.l1
        and config.learning_rate == "auto"
        and config.learning_rate_init == "auto"
        and config.momentum == "auto"
        and config.early_stopping in (True, "auto")
        and config.average in (True, "auto")
        and config.preconditioner != "diagonal"
        and data.n_samples >= COVARIANCE_ROWS
        and data.loss.n_features <= COVARIANCE_FEATURES
    )


def _settle_steps(run, model):
    """``momentum="auto"`` after an averaged dense fit's first epoch judged
    on a split (its log-loss): capped where the noise the steps leave at
    that model would be too large (:data:`AVERAGED_NOISE`); where plain
    steps alone leave more than :data:`AVERAGED_RATE_NOISE`, the momentum
    is 0 and the automatic rate is lowered to leave that much (a rate asked
    for is kept). Where either changes, the fit goes on from the epoch's
    average, at rest; unless the iterate scores better on the split than
    that average (:func:`_drifting`): then nothing changes. Returns the
    epoch's model (that average, now the iterate, where they changed)."""
    config, state, train = run.config, run.state, run.train
    dense = train.row_nnz() is None
    if not (dense and _dense_averaged_split(run) and config.scoring == "loss"):
        return model
    left = -run.scores[-1] / np.log(train.loss.n_classes)
    noise = start_noise(state, config.batch_size, train) * left
    momentum = min(config.momentum, max(1.0 - noise / AVERAGED_NOISE, 0.0))
    slower = config.learning_rate_init == "auto" and noise > AVERAGED_RATE_NOISE
    if (momentum >= config.momentum and not slower) or _drifting(run):
        return model
    if slower:
        state.rate.rescale(AVERAGED_RATE_NOISE / noise)
    run.config = dataclasses.replace(config, momentum=float(momentum))
    state.params.coef = state.averaged()
    state.momentum = None
    restart_average(state)
    return state.params.coef


def _drifting(run):
    """Whether the epoch's iterate scores better on the split (its log-loss)
    than the average the epoch was scored at: the model still drifts
    towards the optimum faster than an average can follow (labels with
    little noise), instead of resting in its steps' noise, where the
    average is the better model. Its steps are kept then: on 40,000 rows
    of 256 Gaussian features, 10 classes from a softmax teacher with little
    noise (the optimum's test accuracy 0.88; seeds 0 and 1), the steps' noise
    (1.8%, just over :data:`AVERAGED_NOISE`) took the momentum from 0.34 to
    0 and the fit back to the first epoch's average (its split's log-loss
    0.497, the iterate's 0.458): 16 epochs, 3.7% and 3.5% above the
    optimum's test log-loss; kept, 13 epochs, 2.1% and 1.9% (768 features,
    seed 0: 21 epochs, 15 now). The other large dense problems of the
    benchmarks (MNIST, bench_large_dense.py's 84 fits, bench_quality.py's
    50 classes but at alpha=1, bench_embeddings.py) score their average
    better: the same fits."""
    state = run.state
    state.sync()
    rows = run.validation.evaluate(state.params.coef)
    return _validation_score(rows, "loss", None)[0] > run.scores[-1]


def _averaged_split(config, validation):
    """Whether the fit is averaged and judged on a validation split (the
    default on wide sparse data: see :data:`AVERAGED_SPLIT_STEP`)."""
    return bool(config.average) and validation is not None


def _validation_score(rows, scoring, best_rows):
    """The validation score (higher is better: minus the log-loss, or the
    accuracy) from the split's ``rows`` (each row's loss, whether it is
    predicted right, its weight: the data's ``evaluate``), and its noise:
    the standard error of the mean difference of the rows' losses from the
    best model's (``best_rows``; 0 without one, and for the accuracy)."""
    losses, correct, weights = rows
    total = np.sum(weights)
    if scoring != "loss":
        return float(weights @ correct / total), 0.0
    score = -float(weights @ losses / total)
    if best_rows is None:
        return score, 0.0
    return score, mean_noise(losses - best_rows[0], weights)


def _rows_pass(carry, rows, rng, span, *, config, schedule):
    """One pass over ``rows`` (a fold step: the carry is the state and the
    records so far)."""
    state, records = carry
    record = sgd_pass(rows, state, config, schedule, rng, span)
    return state, [*records, record]


def _mix(carries, *, t0):
    """The carries of passes run side by side from one state (update counter
    ``t0``), as one: the states mixed (:meth:`SGDState.mix`, weighted by the
    sample weight each pass covered), the records merged. Carries of passes
    that covered nothing (empty chunks) are left out. Associative: the data
    may join the carries pairwise, where they are."""
    covered = [(c, sum(r.weight for r in c[1])) for c in carries]
    covered = [(c, w) for c, w in covered if w > 0] or covered[:1]
    if len(covered) == 1:
        return covered[0][0]
    states = [state for (state, _), _ in covered]
    weights = [w for _, w in covered]
    records = [r for (_, rs), _ in covered for r in rs]
    return SGDState.mix(states, weights, t0), [merge_records(records)]


def _ship(carry, place):
    """The carry with its arrays made by ``place`` (a Dask chunk's copy, or
    its way back): the state's, and the records' losses."""
    state, records = carry
    return state.map_arrays(place), tree_map(lambda a, _: place(a), records)


def _centers(config, data, moments):
    """Whether the steps are taken as if the features were centered.

    Where some feature's mean dwarfs its spread (see
    :func:`~.._scaling.offsets_dominate`), with an intercept to absorb the
    means, without an L1 penalty (its clipping is per weight) and where SGD
    does not run its compiled sparse loop (whose steps touch only the
    batch's columns, which centering would spread to every column).
    """
    return bool(
        data.loss.fit_intercept
        and not config.l1
        and not sparse_steps(data, config.batch_size)
        and offsets_dominate(moments)
    )


def _sketched(config, data):
    """Whether the state keeps the rows' covariance sketch: where asked for
    (``preconditioner="covariance"``), except where SGD runs its compiled
    sparse loop (whose steps touch only the batch's columns); ``"auto"``
    is decided by :meth:`SGDConfig.resolved`. A stream follows the
    parameter from call to call:
    switched on, the sketch starts from that call's rows; off, it is
    dropped."""
    return config.preconditioner == "covariance" and not sparse_steps(
        data, config.batch_size
    )


def _covariance(config, data):
    """Whether the steps take the covariance preconditioner
    (:func:`~.._scaling.covariance_preconditioner`): where the sketch is
    kept, but never with an L1 penalty (its clipping is per weight; a
    stream's calls with one keep its sketch growing, for the calls
    without)."""
    return _sketched(config, data) and not config.l1


def _placed(lowrank, data):
    """The covariance preconditioner's low-rank term where the steps run."""
    if lowrank is None:
        return None
    return lowrank._replace(
        basis=data.asarray(lowrank.basis), shrink=data.asarray(lowrank.shrink)
    )


def _float64_hint(dtype):
    """The advice to pass float64 data, where the data is float32 (float64
    has no wider type to go to)."""
    return ", or pass it as float64" if "float32" in str(dtype) else ""


def _check_step_scaling(precond, data):
    """Refuse features so large that their step rounds to zero in X's dtype,
    or so small (without a penalty to bound it) that it overflows."""
    scaling = data.to_fitted(precond)
    if bool(data.xp.any(scaling == 0)):
        raise ValueError(
            f"X has values too large to train on in {data.dtype}: the SGD "
            "step of some features underflows to zero. Scale the data (e.g. "
            f"StandardScaler){_float64_hint(data.dtype)}."
        )
    if not bool(data.xp.all(data.xp.isfinite(scaling))):
        # (the fit ended "diverged", blaming a rate that was not the cause)
        raise ValueError(
            f"X has values too small to train on in {data.dtype} with so weak a "
            "penalty: the SGD step of some features, 1 / (c * E[x^2] + alpha), "
            "overflows. Scale the data (e.g. StandardScaler), or raise alpha."
        )


# what a divergence or a worse model asks of the user; "auto" picks the rate
# from the data's curvature, so it is no remedy where it was the rate already
_STEP_ADVICE = (
    "Set learning_rate_init below that rate (a number, or 'auto' if it was "
    "set by hand), lower momentum, or scale the data (e.g. StandardScaler)."
)


def warn_worse(before, after, state, incremental):
    """The ConvergenceWarning of a call that left the model much worse than
    it found it (its objective, the loss on a sample of the call's rows plus
    the penalty at the call's ``alpha``, more than doubled): steps too large
    for the data, short of a divergence. The objective, not the loss: a
    warm start or a stream's call after ``alpha`` was raised rightly trades
    loss for smaller weights."""
    from sklearn.exceptions import ConvergenceWarning

    call = "partial_fit call" if incremental else "fit"
    warn_at_caller(
        f"This {call} left the model worse than it started: its objective (the "
        "loss on a sample of the training rows plus the penalty) went from "
        f"{before:.3g} to {after:.3g} "
        f"(learning rate {state.rate.eta0:.3g}). {_STEP_ADVICE}",
        ConvergenceWarning,
    )


# the kept model's validation log-loss above this many times log(n_classes),
# the log-loss of a model that predicts every class alike (the zero model),
# is no model worth returning in silence
UNIFORM_EXCESS = 1.1


def warn_worse_than_uniform(validation_loss, state, n_classes):
    """The ConvergenceWarning of a fit whose kept model predicts the early
    stopping split worse than a model that knows nothing: its steps were too
    large for the data (on wide sparse data whose every feature is rare, the
    automatic rate's steps overshoot each row's own logits and even their
    average stays worse than the zero model), or ``alpha`` so small that the
    optimum itself overfits."""
    from sklearn.exceptions import ConvergenceWarning

    uniform = float(np.log(n_classes))
    if not validation_loss > UNIFORM_EXCESS * uniform:
        return
    warn_at_caller(
        "SGD's model predicts the validation split worse than a model that "
        f"predicts every class alike (log-loss {validation_loss:.3g} against "
        f"log(n_classes) = {uniform:.3g}): its steps were too large for this "
        f"data (learning rate {state.rate.eta0:.3g}), or alpha too small to "
        "hold its weights. Set a smaller learning_rate_init or a larger "
        "batch_size, a larger alpha, or use solver='lbfgs'.",
        ConvergenceWarning,
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
            f"{state.params.epoch} with learning rate {state.rate.eta0:.3g}. "
            f"{_STEP_ADVICE} The model was left as it was before this call."
        )
