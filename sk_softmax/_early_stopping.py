"""Early stopping: a validation split, a patience tracker and the best weights."""

import hashlib
import warnings

import numpy as np
import scipy.sparse as sp

from ._backend import to_numpy


def _row_keys(X):
    """A hashable key per row, equal for equal rows, dense or sparse alike.

    Rows are canonicalised as sparse rows (non-zero positions and values,
    duplicates summed, indices sorted) block by block, so a dense and a
    sparse copy of the same data get the same keys (and so the same split),
    and a sparse matrix is never copied whole. The keys are digests of the
    row's bytes, not Python's ``hash`` (salted per process): the split, and so
    the model, must be the same in every process for a given random_state.
    """
    keys = []
    n_samples = X.shape[0]
    for start in range(0, n_samples, 4096):
        # a 2-D, in-bounds slice: what the array API (and sparse) accept
        block = X[start : min(start + 4096, n_samples), :]
        if sp.issparse(block):
            block = sp.csr_matrix(block, copy=True)
            block.sum_duplicates()
            block.eliminate_zeros()
        else:
            block = sp.csr_matrix(np.asarray(to_numpy(block)))
        block.sort_indices()
        ind = block.indices.astype(np.int64)
        dat, ptr = block.data, block.indptr
        keys.extend(
            (
                int(b - a),
                hashlib.blake2b(
                    ind[a:b].tobytes() + dat[a:b].tobytes(), digest_size=16
                ).digest(),
            )
            for a, b in zip(ptr[:-1], ptr[1:], strict=True)
        )
    return keys


def make_validation_split(X, y, sample_weight, validation_fraction, rng, classes):
    """Stratified train / validation split that keeps duplicate rows together.

    Rows with zero weight are left out of both parts (they carry no
    information). Identical rows with the same label form one group and go to
    the same side, so the validation score never sees a copy of a training
    row, and fitting with integer weights or with repeated rows gives the same
    split. Within each class, ``round(validation_fraction * n_groups)`` groups
    (at least one) are held out.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Encoded labels ``0..n_classes-1``.
    sample_weight : ndarray of shape (n_samples,)
    validation_fraction : float in (0, 1)
    rng : numpy.random.RandomState
    classes : ndarray
        The original labels, for error messages.

    Returns
    -------
    train_idx, val_idx : ndarray of int
    """
    y = np.asarray(y)
    sample_weight = np.asarray(sample_weight)
    positive = np.flatnonzero(sample_weight > 0)
    all_keys = _row_keys(X)
    keys = [all_keys[i] for i in positive]
    # one group per distinct (row, label); groups ordered independently of row order
    group_of = {}
    group_ids = np.empty(len(positive), dtype=np.intp)
    for j, (key, label) in enumerate(zip(keys, y[positive], strict=True)):
        group_ids[j] = group_of.setdefault((int(label), key), len(group_of))
    group_keys = list(group_of)
    val_groups, train_only = [], []
    for k in range(len(classes)):
        class_groups = sorted(
            (g for g, (label, _) in enumerate(group_keys) if label == k),
            key=lambda g: group_keys[g][1],
        )
        n_groups = len(class_groups)
        if n_groups < 2:
            train_only.append(classes[k])
            continue
        n_val = min(n_groups - 1, max(1, int(round(validation_fraction * n_groups))))
        chosen = rng.permutation(n_groups)[:n_val]
        val_groups.extend(class_groups[i] for i in chosen)
    if not val_groups:
        raise ValueError(
            "Early stopping cannot hold out a validation set: no class has 2 or "
            "more distinct samples with positive weight (one to train on, one to "
            "validate). Provide more samples or set early_stopping=False."
        )
    if train_only:
        warnings.warn(
            f"Early stopping: classes {np.asarray(train_only).tolist()} "
            "have a single distinct sample with positive weight; it is kept for "
            "training and the validation set misses these classes. Provide more "
            "samples of them or set early_stopping=False.",
            UserWarning,
            stacklevel=4,
        )
    is_val_group = np.zeros(len(group_keys), dtype=bool)
    is_val_group[val_groups] = True
    is_val = is_val_group[group_ids]
    train_idx = positive[~is_val]
    val_idx = positive[is_val]
    return train_idx, val_idx


class EarlyStopping:
    """Patience tracker over a score to maximise, keeping the best weights.

    Parameters
    ----------
    n_iter_no_change : int
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float
        Minimum improvement over the best score that resets the patience.
    """

    def __init__(self, n_iter_no_change, tol):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.best_score = -np.inf
        self.best_coef = None
        self.best_epoch = -1
        self.n_no_improvement = 0

    def update(self, score, coef, epoch, copy):
        """Record ``score`` for ``epoch``; return True when patience ran out.

        ``copy(coef)`` snapshots the weights when ``score`` is the best so far.
        """
        if score < self.best_score + self.tol:
            self.n_no_improvement += 1
        else:
            self.n_no_improvement = 0
        if score > self.best_score:
            self.best_score = score
            self.best_coef = copy(coef)
            self.best_epoch = epoch
        return self.n_no_improvement >= self.n_iter_no_change

    def reset_patience(self):
        """Start counting again (after the adaptive schedule lowers the rate)."""
        self.n_no_improvement = 0


class SGDStopping:
    """SGD's stopping rule and its "adaptive" schedule, after every epoch.

    Without early stopping the criterion is the training loss: patience runs
    out after ``n_iter_no_change`` epochs that do not improve on the best loss
    by ``tol`` (scikit-learn's convention). With early stopping it is the
    validation score, tracked by :class:`EarlyStopping` (which keeps the best
    weights). When patience runs out, the "adaptive" schedule divides the
    learning rate by 5 and goes on, unless the rate is already below 1e-6 of
    its start or the previous lowering brought no improvement at all.

    Parameters
    ----------
    tol : float
    n_iter_no_change : int
    learning_rate : str
        The schedule's name.
    early_stopping : bool
    """

    def __init__(self, *, tol, n_iter_no_change, learning_rate, early_stopping):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.learning_rate = learning_rate
        self.validation = (
            EarlyStopping(n_iter_no_change, tol) if early_stopping else None
        )
        self.best_loss = np.inf
        self.n_no_improvement = 0
        self.criterion_at_lowering = -np.inf

    def update(self, state, epoch_loss, score=None, copy=None):
        """Record an epoch; return "continue", "lowered" or "stop".

        ``state`` is the :class:`~sk_softmax._solvers._sgd.SGDState` (its
        ``eta`` is lowered in place); ``score`` and ``copy`` are needed with
        early stopping (the validation score, and how to snapshot weights).
        """
        if self.validation is not None:
            stop = self.validation.update(score, state.coef, state.epoch, copy)
            criterion = self.validation.best_score
        else:
            if epoch_loss > self.best_loss - self.tol:
                self.n_no_improvement += 1
            else:
                self.n_no_improvement = 0
            self.best_loss = min(self.best_loss, epoch_loss)
            stop = self.n_no_improvement >= self.n_iter_no_change
            criterion = -self.best_loss
        if not stop:
            return "continue"
        improved = criterion > self.criterion_at_lowering + self.tol
        if (
            self.learning_rate == "adaptive"
            and state.eta > 1e-6 * state.eta0
            and improved
        ):
            self.criterion_at_lowering = criterion
            state.eta /= 5.0
            self.n_no_improvement = 0
            if self.validation is not None:
                self.validation.reset_patience()
            return "lowered"
        return "stop"

    def warn_not_converged(self, max_iter, stacklevel):
        """The ConvergenceWarning of a run that used up ``max_iter`` epochs."""
        from sklearn.exceptions import ConvergenceWarning

        criterion = "training loss" if self.validation is None else "validation score"
        warnings.warn(
            f"SGD stopped at max_iter={max_iter} epochs before the {criterion} "
            f"stopped improving by tol={self.tol}. Increase max_iter, raise tol, "
            "or scale the data (e.g. StandardScaler).",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
