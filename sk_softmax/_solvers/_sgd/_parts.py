"""The parts of SGD's update rule, each with its own small state, composed once.

A minibatch's gradient ``g`` (the weighted sum of its samples' gradients)
becomes an update in three stages, each a short list of parts:

1. the *direction* parts turn ``g`` into the step ``eta * d``:
   :class:`Preconditioned` (``d = P (g / (mean_weight * m) + l2 W)``, the
   diagonal preconditioner ``P`` and the L2 penalty), :class:`Correlated`
   (the covariance preconditioner's low-rank term, added to it) and
   :class:`Centered` (the same step taken as if the features were centered);
2. the *move*, :class:`Momentum` (heavy ball or Nesterov) or
   :class:`PlainStep`, applies it to the parameters;
3. the *after* parts act on the updated parameters: :class:`CumulativeL1`
   (Tsuruoka et al.'s cumulative L1 penalty), :class:`Average` (the
   step-size-weighted average of the iterates).

:class:`UpdateRule` chains the parts a configuration asks for; the dense
passes (NumPy and any array-API namespace) run it. The compiled sparse loop
fuses its own rule for speed (no momentum, no centering, the L2 decay as the
exact flow of the penalty over a step, the average as the integral of each
weight's path): :func:`sparse_rule` composes the same rule from
:class:`FlowKick`, :class:`FlowDecay` and :class:`IntegralAverage`, and the
tests check the loop against it step for step.

Every part writes in place where the namespace allows it (NumPy, CuPy,
PyTorch, array_api_strict all do): the parameters and the parts' states are
the solver's own copies.
"""

from dataclasses import dataclass

import numpy as np

from ..._backend import device, get_namespace
from .._scaling import centered_step


@dataclass
class MomentumState:
    """Momentum's buffer (shaped like the flat parameters)."""

    velocity: object = None


@dataclass
class L1State:
    """The cumulative L1 penalty.

    Attributes
    ----------
    total : float
        The penalty every weight could have received so far, per unit of its
        preconditioner: the sum of ``eta * alpha * l1_ratio`` over the updates.
    applied : array of shape (n_rows * n_features,) or None
        The penalty each weight has received so far (signed).
    """

    total: float = 0.0
    applied: object = None


@dataclass
class AverageState:
    """Averaging: the model is ``sum / weight``.

    Attributes
    ----------
    sum : array of shape (n_coef,) or LazyZeros
        The integral of the parameters over the step sizes since the
        average's window started (``sum of eta * coef`` over the updates).
    weight : float
        The sum of the step sizes over that window.
    """

    sum: object = None
    weight: float = 0.0


class Context:
    """What every part of one pass shares: the layout, the namespace and the
    per-parameter scaling.

    Parameters
    ----------
    loss : SoftmaxLoss
        The parameter layout.
    scaling : Scaling
        The state's step scaling (per feature, the intercepts' last).
    xp : namespace
        Where the parameters live.
    mean_weight : float
        The mean sample weight of the pass's rows.
    """

    def __init__(self, loss, scaling, xp, mean_weight):
        self.loss, self.xp, self.mean_weight = loss, xp, mean_weight
        self.n_w = loss.n_rows * loss.n_features
        self.numpy = xp is np or xp.__name__ in ("numpy", "array_api_compat.numpy")
        self.lowrank = scaling.lowrank
        precond = scaling.precond
        n_features = loss.n_features
        W_part = xp.broadcast_to(precond[:n_features], (loss.n_rows, n_features))
        parts = [xp.reshape(W_part, (self.n_w,))]
        if loss.fit_intercept:
            parts.append(xp.broadcast_to(precond[n_features:], (loss.n_rows,)))
        # laid out like the flat parameters (one pass's temporary)
        self.precond = xp.concat(parts)

    def mul(self, a, b, out):
        """``a * b``, into the NumPy buffer ``out`` where there is one."""
        return np.multiply(a, b, out=out) if self.numpy else a * b

    def precondition(self, v):
        """The weights' preconditioner applied to ``v`` of shape
        ``(n_features,)``: its diagonal, plus the covariance
        preconditioner's low-rank term if any."""
        xp, n_features = self.xp, self.loss.n_features
        out = self.precond[:n_features] * v
        if self.lowrank is not None:
            basis = self.lowrank.basis
            out = out + xp.matmul(basis, self.lowrank.shrink * xp.matmul(v, basis))
        return out


class Preconditioned:
    """The step ``eta * P (g / (mean_weight * m) + l2 * W)`` (intercepts not
    penalised): the preconditioner's and the rate's factors are cached while
    ``eta`` and ``m`` stay the same."""

    def __init__(self, ctx, l2):
        self.ctx, self.l2 = ctx, float(l2)
        self.cached = None
        self.scale = self.decay = None
        self.step = self.tmp = None
        if ctx.numpy:
            self.scale = np.empty_like(ctx.precond)
            self.decay = np.empty_like(ctx.precond[: ctx.n_w])
            self.step = np.empty_like(ctx.precond)
            self.tmp = np.empty_like(self.decay)

    def __call__(self, grad, coef, m, eta):
        ctx = self.ctx
        if self.cached != (eta, m):
            self.cached = (eta, m)
            rate = eta / (ctx.mean_weight * m)
            self.scale = ctx.mul(ctx.precond, rate, self.scale)
            if self.l2:
                self.decay = ctx.mul(ctx.precond[: ctx.n_w], eta * self.l2, self.decay)
        step = ctx.mul(grad, self.scale, self.step)
        if self.l2:
            n_w = ctx.n_w
            step[:n_w] += ctx.mul(coef[:n_w], self.decay, self.tmp)
        return step


class Correlated:
    """The covariance preconditioner's low-rank term, added to the weights'
    step: ``eta ((g / (mean_weight * m) + l2 W) B) diag(shrink) B^T`` with
    ``B`` its basis (see :func:`~.._scaling.covariance_preconditioner`):
    with :class:`Preconditioned`'s diagonal, the step ``eta d P`` of the
    full preconditioner ``P``, at the cost of two products with a
    ``(n_features, rank)`` basis."""

    def __init__(self, ctx, l2):
        self.ctx, self.l2 = ctx, float(l2)
        lowrank = ctx.lowrank
        self.basis, self.shrink = lowrank.basis, lowrank.shrink
        self.shape = (ctx.loss.n_rows, ctx.loss.n_features)
        self.raw = self.tmp = self.low = self.out = None
        if ctx.numpy:
            self.raw = np.empty(self.shape, dtype=self.basis.dtype)
            self.tmp = np.empty_like(self.raw)
            self.out = np.empty_like(self.raw)
            self.low = np.empty((self.shape[0], self.basis.shape[1]), self.basis.dtype)
            # B^T stored as it is read (on MNIST a third of the strided one's
            # time: 6 us a minibatch instead of 18)
            self.basis_t = np.ascontiguousarray(self.basis.T)

    def __call__(self, step, grad, coef, m, eta):
        ctx = self.ctx
        n_w = ctx.n_w
        rate = eta / (ctx.mean_weight * m)
        if ctx.numpy:
            G = grad[:n_w].reshape(self.shape)
            raw = np.multiply(G, rate, out=self.raw)
            if self.l2:
                W = coef[:n_w].reshape(self.shape)
                raw += np.multiply(W, eta * self.l2, out=self.tmp)
            low = np.matmul(raw, self.basis, out=self.low)
            low *= self.shrink
            step[:n_w].reshape(self.shape)[...] += np.matmul(
                low, self.basis_t, out=self.out
            )
            return step
        xp = ctx.xp
        raw = xp.reshape(grad[:n_w], self.shape) * rate
        if self.l2:
            raw = raw + xp.reshape(coef[:n_w], self.shape) * (eta * self.l2)
        low = xp.matmul(raw, self.basis) * self.shrink
        step_W = xp.reshape(step[:n_w], self.shape) + xp.matmul(low, self.basis.T)
        return xp.concat([xp.reshape(step_W, (-1,)), step[n_w:]])


class Centered:
    """The step taken as if the features were centered (see
    :func:`~.._scaling.centered_step`): a fixed positive-definite map of the
    gradient, so the same optimum."""

    def __init__(self, ctx, center):
        self.ctx = ctx
        xp, n_features = ctx.xp, ctx.loss.n_features
        self.center = center
        self.precond_center = ctx.precondition(center)
        self.buffer = None
        if ctx.numpy:
            self.buffer = np.empty((ctx.loss.n_rows, n_features), dtype=center.dtype)
        self.xp = np if ctx.numpy else xp

    def __call__(self, step, grad, coef, m, eta):
        ctx = self.ctx
        raw_b = grad[ctx.n_w :] * (eta / (ctx.mean_weight * m))
        return centered_step(
            step,
            raw_b,
            self.center,
            self.precond_center,
            ctx.loss.n_rows,
            self.xp,
            self.buffer,
        )


class PlainStep:
    """``coef -= step``."""

    def init(self, state, ctx):
        state.momentum = None  # a rule without momentum keeps none

    def __call__(self, state, step):
        coef = state.params.coef
        coef -= step


class Momentum:
    """Heavy ball (``v = mu v - step; coef += v``) or Nesterov's
    (``coef += mu v - step``)."""

    def __init__(self, ctx, momentum, nesterov):
        self.ctx, self.mu, self.nesterov = ctx, momentum, nesterov
        self.tmp = None

    def init(self, state, ctx):
        if state.momentum is None or state.momentum.velocity is None:
            state.momentum = MomentumState(ctx.xp.zeros_like(state.params.coef))
        if ctx.numpy and self.nesterov:
            self.tmp = np.empty_like(state.params.coef)

    def __call__(self, state, step):
        coef, v = state.params.coef, state.momentum.velocity
        v *= self.mu
        v -= step
        if self.nesterov:
            coef += self.ctx.mul(v, self.mu, self.tmp)
            coef -= step
        else:
            coef += v


def l1_clip(W, q, u, xp):
    """Tsuruoka et al.'s cumulative L1 penalty: ``(W', q')``.

    ``u`` (broadcast over ``W``) is the penalty each weight could have
    received so far, ``q`` what it has received: a positive weight moves
    towards zero by ``u + q``, a negative one by ``u - q``, never across it,
    and ``q`` records the move. Weights land on exact zeros and stay there
    unless the gradient pushes them out by more than the penalty.
    """
    shrunk = xp.where(
        W > 0,
        xp.maximum(W - (u + q), 0.0),
        xp.where(W < 0, xp.minimum(W + (u - q), 0.0), W),
    )
    return shrunk, q + (shrunk - W)


class CumulativeL1:
    """After each update, every weight takes the L1 penalty it owes
    (:func:`l1_clip`, scaled by its preconditioner)."""

    def __init__(self, ctx, l1):
        self.ctx, self.l1 = ctx, float(l1)

    def init(self, state, ctx):
        if state.l1 is None:
            state.l1 = L1State()
        if state.l1.applied is None:
            state.l1.applied = ctx.xp.zeros_like(state.params.coef[: ctx.n_w])

    def __call__(self, state, eta):
        ctx, l1 = self.ctx, state.l1
        n_w = ctx.n_w
        coef = state.params.coef
        l1.total += eta * self.l1
        u = ctx.precond[:n_w] * l1.total
        coef[:n_w], l1.applied = l1_clip(coef[:n_w], l1.applied, u, ctx.xp)


class LazyZeros:
    """Zeros of a given shape, dtype and place, allocated when first needed.

    A sparse fit from zeros starts its parameters so, and averaging its
    ``avg_sum``: the sparse loop keeps the weights of its columns side by
    side (:class:`CompactWeights`), and a fit that reads the model only at
    its end allocates the weight-sized arrays only then.
    """

    def __init__(self, like, shape=None):
        self.shape = like.shape if shape is None else shape
        self.dtype = like.dtype
        if isinstance(like, LazyZeros):
            self.xp, self.device = like.xp, like.device
        else:
            self.xp, self.device = get_namespace(like), device(like)

    def __getitem__(self, key):
        raise TypeError("LazyZeros: call materialize() first")

    def materialize(self):
        return self.xp.zeros(self.shape, dtype=self.dtype, device=self.device)


def start_average(state):
    """Start the average's window: nothing averaged yet (zeros allocated
    when first needed)."""
    state.average = AverageState(LazyZeros(state.params.coef), 0.0)


class Average:
    """After each update, ``sum += eta * coef`` and ``weight += eta``."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.tmp = None

    def init(self, state, ctx):
        if state.average is None:
            start_average(state)
        state.sync()
        if ctx.numpy:
            self.tmp = np.empty_like(state.params.coef)

    def __call__(self, state, eta):
        average = state.average
        average.sum += self.ctx.mul(state.params.coef, eta, self.tmp)
        average.weight += eta


class FlowDecay:
    """The L2 penalty as its exact flow over the step, after it:
    ``W <- exp(-eta * l2 * P) W`` (the compiled sparse loop's rule)."""

    def __init__(self, ctx, l2):
        self.ctx, self.l2 = ctx, float(l2)

    def init(self, state, ctx):
        pass

    def __call__(self, state, eta):
        ctx = self.ctx
        xp, n_w = ctx.xp, ctx.n_w
        coef = state.params.coef
        coef[:n_w] *= xp.exp(-eta * self.l2 * ctx.precond[:n_w])


class FlowKick:
    """The weights' step times ``expm1(a) / a``, ``a = eta * l2 * P``: with
    :class:`FlowDecay` after it, ``W <- exp(-a) W - (1 - exp(-a)) / a * eta
    P g`` (exponential Euler), which rests where the penalised gradient is
    zero; the plain step followed by the flow would rest at ``a / expm1(a)``
    of the optimum (the compiled sparse loop's rule)."""

    def __init__(self, ctx, l2):
        self.ctx, self.l2 = ctx, float(l2)
        self.cached, self.factor = None, None

    def __call__(self, step, grad, coef, m, eta):
        if not self.l2:
            return step
        ctx = self.ctx
        xp, n_w = ctx.xp, ctx.n_w
        if self.cached != eta:
            self.cached = eta
            a = eta * self.l2 * ctx.precond[:n_w]
            positive = a > 0
            safe = xp.where(positive, a, xp.ones_like(a))
            self.factor = xp.where(positive, xp.expm1(safe) / safe, xp.ones_like(a))
        step[:n_w] *= self.factor
        return step


class IntegralAverage(Average):
    """Averaging along :class:`FlowDecay`'s path: each weight adds the
    integral of its decaying path over the step, ``W (1 - exp(-a eta)) / a``
    with ``a = l2 * P`` (``eta * W`` where ``a`` is 0), the intercepts
    ``eta * b`` (the compiled sparse loop's average)."""

    def __init__(self, ctx, l2):
        super().__init__(ctx)
        self.l2 = float(l2)

    def __call__(self, state, eta):
        ctx = self.ctx
        xp, n_w = ctx.xp, ctx.n_w
        coef, average = state.params.coef, state.average
        a = self.l2 * ctx.precond[:n_w]
        positive = a > 0
        safe = xp.where(positive, a, xp.ones_like(a))
        held = xp.where(positive, -xp.expm1(-eta * safe) / safe, eta + 0 * a)
        average.sum[:n_w] += coef[:n_w] * held
        average.sum[n_w:] += eta * coef[n_w:]
        average.weight += eta


class UpdateRule:
    """The parts a configuration asks for, composed: one update from a
    minibatch's summed gradient.

    Parameters
    ----------
    direction : list
        ``part(step_or_grad, ...)`` turning the gradient into the step
        (:class:`Preconditioned` first).
    move : PlainStep or Momentum
    after : list
        Parts applied to the updated parameters, in order.
    ctx : Context
    """

    def __init__(self, direction, move, after, ctx):
        self.precondition, *self.transforms = direction
        self.move, self.after, self.ctx = move, after, ctx

    def init(self, state):
        """Give each part its state (kept if the state has it already)."""
        for part in (self.move, *self.after):
            part.init(state, self.ctx)

    def update(self, state, grad, m, eta):
        """One update of ``state`` from ``grad`` (the sum over ``m`` rows)."""
        coef = state.params.coef
        step = self.precondition(grad, coef, m, eta)
        for part in self.transforms:
            step = part(step, grad, coef, m, eta)
        self.move(state, step)
        for part in self.after:
            part(state, eta)
        state.params.t += 1


def dense_rule(config, ctx, center):
    """The rule of the dense passes for an :class:`~._loop.SGDConfig`:
    preconditioned steps with the L2 penalty (the covariance preconditioner's
    low-rank term added where the scaling has one, never with L1, whose
    clipping is per weight), centered where ``center`` is given (never with
    L1), momentum (never with L1, whose clipping it would keep undoing), L1,
    averaging."""
    direction = [Preconditioned(ctx, config.l2)]
    if ctx.lowrank is not None and not config.l1:
        direction.append(Correlated(ctx, config.l2))
    if center is not None and not config.l1:
        direction.append(Centered(ctx, center))
    mu = config.step_momentum
    move = Momentum(ctx, mu, config.nesterov) if mu else PlainStep()
    after = []
    if config.l1:
        after.append(CumulativeL1(ctx, config.l1))
    if config.average:
        after.append(Average(ctx))
    return UpdateRule(direction, move, after, ctx)


def sparse_rule(config, ctx):
    """The compiled sparse loop's rule, composed: preconditioned steps (times
    the flow's kick, not averaged), the L1 penalty, the average along the
    decay's path, the L2 decay as its flow (no momentum, no centering)."""
    after = []
    if config.l1:
        after.append(CumulativeL1(ctx, config.l1))
    if config.average:
        after.append(IntegralAverage(ctx, config.l2))
    after.append(FlowDecay(ctx, config.l2))
    direction = [Preconditioned(ctx, 0.0)]
    if not config.average:  # the average integrates the plain steps' path
        direction.append(FlowKick(ctx, config.l2))
    return UpdateRule(direction, PlainStep(), after, ctx)
