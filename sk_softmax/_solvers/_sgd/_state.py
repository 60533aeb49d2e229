"""SGD's state: a tree of small states, and the one walk over its arrays.

Each concern owns a small dataclass: the parameters and counters
(:class:`Params`), the step scaling (:class:`Scaling`), the learning rate
(:class:`~sk_softmax._solvers._schedule.RateState`), the stopping rule's
history (:class:`~sk_softmax._stopping.StoppingState`), and the state of each
part of the update rule that runs (momentum, cumulative L1, averaging: see
:mod:`._parts`). :class:`SGDState` holds them; nothing lists their arrays:
copies, the plain values ``partial_fit`` keeps, a Dask chunk's copy and
device moves all walk the tree with
:func:`~sk_softmax._backend.tree_map`.
"""

import dataclasses
import typing
from dataclasses import dataclass, field

import numpy as np

from ..._backend import tree_map
from ..._stopping import StoppingState
from .._scaling import ColumnMoments, InputSketch, LowRank
from .._schedule import RateState
from ._parts import AverageState, L1State, LazyZeros, MomentumState
from ._passes import SparseScratch


@dataclass
class Params:
    """The parameters and the counters.

    Attributes
    ----------
    coef : array of shape (n_coef,) or LazyZeros
        Flat parameters (layout in :mod:`sk_softmax._loss`), where the
        data's computation runs; a sparse fit from zeros allocates them when
        it writes them back (:class:`~._parts.LazyZeros`).
    t : int
        Minibatch updates done so far.
    epoch : int
        Epochs (``partial_fit`` calls) done so far.
    """

    coef: object
    t: int = 0
    epoch: int = 0


@dataclass
class Scaling:
    """The step scaling, computed from the data (:mod:`.._scaling`).

    Attributes
    ----------
    precond : array of shape (n_features + fit_intercept,)
        Step scaling per feature, the intercepts' last.
    center : array of shape (n_features,) or None
        The features' means when the steps are taken as if the features were
        centered (:func:`~.._scaling.centered_step`), else None.
    moments : ColumnMoments
        The column moments of every row seen so far (host, float64):
        ``partial_fit`` updates the scaling from them, so a feature absent
        from the first chunks never gets an unbounded step. ``sum`` and
        ``m2`` are None when the steps are not centered.
    lowrank : LowRank or None
        The covariance preconditioner's low-rank term (its ``basis`` and
        ``shrink`` where the parameters live; see
        :func:`~.._scaling.covariance_preconditioner`); None: the steps are
        scaled per feature only.
    sketch : InputSketch or None
        The features' covariance from samples of every chunk seen so far
        (host, float64), which ``partial_fit`` updates as the moments; None
        without the covariance preconditioner.
    rows : int or None
        How many training rows were seen so far: with ``moments.total``,
        their mean weight, which every pass divides its minibatches'
        weighted gradients by (a Dask chunk's pass, a stream's call: the
        mean of all the rows, so that the weights keep their proportions
        from part to part); None: each pass's own rows' mean.
    """

    precond: object
    center: object = None
    moments: ColumnMoments = field(default=None, metadata={"host": True})
    lowrank: LowRank = None
    sketch: InputSketch = field(default=None, metadata={"host": True})
    rows: int = None

    def mean_weight(self):
        """The mean weight of the rows seen so far (None: not known)."""
        if self.rows is None or not self.rows:
            return None
        return self.moments.total / self.rows


@dataclass
class SGDState:
    """Everything SGD needs to resume: what ``partial_fit`` keeps between calls.

    Attributes
    ----------
    params : Params
    scaling : Scaling
    rate : RateState
        The schedule's.
    stopping : StoppingState
        The stopping rule's history, carried across ``partial_fit`` calls.
    momentum, l1, average : MomentumState, L1State, AverageState or None
        The parts' states (:mod:`._parts`); None until a pass runs the part.
    scratch : SparseScratch or None
        What the compiled sparse pass keeps between its passes within one
        run (not part of the state: never copied, kept or shipped).
    """

    params: Params
    scaling: Scaling
    rate: RateState
    stopping: StoppingState
    momentum: MomentumState = None
    l1: L1State = None
    average: AverageState = None
    scratch: SparseScratch = field(default=None, metadata={"transient": True})

    @property
    def coef(self):
        return self.params.coef

    def sync(self, release=False):
        """Bring the arrays up to date: what a sparse pass kept aside is
        written back, and lazily allocated zeros are allocated.

        ``release``: drop what the sparse pass kept (the run is over).
        """
        if self.scratch is not None:
            self.scratch.flush()
            if release:
                self.scratch = None
        params = self.params
        if isinstance(params.coef, LazyZeros):
            params.coef = params.coef.materialize()
        if self.average is not None and isinstance(self.average.sum, LazyZeros):
            self.average.sum = self.average.sum.materialize()

    def map_arrays(self, fn, host=None):
        """A copy whose arrays are ``fn(array)`` (host values: ``host(array)``,
        a float64 NumPy copy by default); the scratch is left out."""
        self.sync()

        def move(leaf, on_host):
            if on_host:
                return (host or _host64)(leaf)
            return fn(leaf)

        return tree_map(move, self)

    def averaged(self):
        """The averaged parameters (a new array), or the parameters themselves
        when nothing has been averaged yet."""
        self.sync()
        average = self.average
        if average is None or not average.weight:
            return self.params.coef
        return average.sum * (1.0 / average.weight)

    @classmethod
    def mix(cls, states, weights, t0):
        """The weighted mean of ``states``: models trained in parallel from
        one state (whose update counter was ``t0``), as one model.

        Every array (the parameters, momentum's velocity, the L1 penalty
        each weight received, the average's sum) is the mean of the states'
        weighted by ``weights`` (the weight of the rows each trained on); an
        array equal in all of them (the step scaling; a weight every model
        holds at zero) is kept as it is, and host values (the column
        moments) are the first state's. Of the numbers: the updates are
        summed (``t0`` plus each state's updates since, as ``t_`` counts them
        in memory); the L1 penalty's total and the average's weight, which
        go with the arrays they scale, are weighted means; the epoch, the
        schedule's and the stopping rule's states (no pass changes them) are
        the first state's.

        The states' arrays are host NumPy arrays (as a Dask pass ships them).
        """
        first = states[0]
        if len(states) == 1:
            return first
        w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        leaves = [_leaves(state) for state in states]
        position = iter(range(len(leaves[0])))

        def mixed_leaf(leaf, host):
            i = next(position)
            values = [each[i] for each in leaves]
            if host or all(np.array_equal(v, leaf) for v in values[1:]):
                return leaf
            total = w[0] * values[0]
            for wk, v in zip(w[1:], values[1:], strict=True):
                total = total + wk * v
            return total

        mixed = tree_map(mixed_leaf, first)
        mixed.params.t = t0 + sum(state.params.t - t0 for state in states)
        if mixed.l1 is not None:
            mixed.l1.total = float(np.dot(w, [s.l1.total for s in states]))
        if mixed.average is not None:
            mixed.average.weight = float(np.dot(w, [s.average.weight for s in states]))
        return mixed

    def to_plain(self, place):
        """The state as plain values: nested dicts of arrays (placed by
        ``place``; host values as float64 NumPy), numbers and lists.

        What the estimator keeps between ``partial_fit`` calls: no class of
        this package in it, so ``skops.io`` loads it without trusting one.
        The parameters are left out: the model's ``coef_`` and
        ``intercept_`` are the parameters (one copy), unless the model is an
        average, whose stream goes on from the iterate, kept then.
        """
        self.sync()
        coef = self.params.coef
        if self.average is None:  # not even copied: it may be large
            self.params.coef = None
        try:
            return _plain(self.map_arrays(place))
        finally:
            self.params.coef = coef

    @classmethod
    def from_plain(cls, values, coef):
        """Inverse of :meth:`to_plain`, with the parameters ``coef`` unless
        the iterate was kept (not copied)."""
        state = _from_plain(cls, values)
        if state.params.coef is None:
            state.params.coef = coef
        return state


def _leaves(tree):
    """The array leaves of ``tree``, in :func:`tree_map`'s order."""
    found = []
    tree_map(lambda leaf, host: found.append(leaf), tree)
    return found


def _host64(a):
    return np.array(a, dtype=np.float64)


def _plain(value):
    """Dataclasses and named tuples as dicts, recursively (transient fields
    left out)."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.metadata.get("transient")
        }
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: _plain(v) for name, v in zip(value._fields, value, strict=True)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _from_plain(cls, values):
    """The ``cls`` instance of :func:`_plain`'s ``values`` (the types of the
    nested states read from ``cls``'s annotations)."""
    if values is None:
        return None
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        names = {f.name for f in dataclasses.fields(cls)}
    else:  # a named tuple
        names = set(cls._fields)
    kwargs = {}
    for name, value in values.items():
        if name not in names:
            continue
        kind = hints.get(name)
        nested = isinstance(kind, type) and (
            dataclasses.is_dataclass(kind) or hasattr(kind, "_fields")
        )
        kwargs[name] = _from_plain(kind, value) if nested else value
    return cls(**kwargs)
