"""EEG feature transformers with the scikit-learn API.

- :class:`AugmentedCovariances`: augmented covariance matrices (ACM) of epochs,
  with fixed or data-driven (``"auto"``) order and lag;
- :mod:`~brainpipe.features.embedding`: the embedding criteria behind
  ``"auto"`` (auto mutual information, Cao, false nearest neighbours);
- :class:`PSDBandPower`: Welch / multitaper band or per-frequency power;
- :class:`ConnectivityNodeStrength`: per-trial (imaginary) coherence reduced
  to node strength;
- :class:`SignedR2Selector`: HappyFeat's signed-R² ranking, top-k selection;
- :class:`RiemannTangentSpace`, :class:`GramSVC`: pyriemann's
  ``TangentSpace("riemann")`` and scikit-learn's ``SVC`` outputs, faster
  (Newton mean and batched ``eigh``; a BLAS Gram matrix).

Epoch transformers take ``(n_trials, n_channels, n_times)`` arrays; they build
on :mod:`brainpipe.kernels` only.
"""

from brainpipe.features.acm import AugmentedCovariances
from brainpipe.features.connectivity import (
    ConnectivityNodeStrength,
    node_strength,
    trial_connectivity,
    trial_cross_spectra,
)
from brainpipe.features.embedding import (
    auto_mutual_information,
    cao_embedding_dimension,
    cao_statistics,
    estimate_embedding,
    false_nearest_neighbours,
    first_minimum_ami_lag,
    fnn_embedding_dimension,
)
from brainpipe.features.gram_svc import GramSVC
from brainpipe.features.psd import PSDBandPower
from brainpipe.features.selection import SignedR2Selector, fisher_score, signed_r2
from brainpipe.features.tangent_space import RiemannTangentSpace

from brainpipe.kernels.riemann_mean import riemann_mean_logmaps  # noqa: E402

__all__ = [
    "riemann_mean_logmaps",
    "AugmentedCovariances",
    "ConnectivityNodeStrength",
    "GramSVC",
    "RiemannTangentSpace",
    "PSDBandPower",
    "SignedR2Selector",
    "auto_mutual_information",
    "cao_embedding_dimension",
    "cao_statistics",
    "estimate_embedding",
    "false_nearest_neighbours",
    "first_minimum_ami_lag",
    "fisher_score",
    "fnn_embedding_dimension",
    "node_strength",
    "signed_r2",
    "trial_connectivity",
    "trial_cross_spectra",
]


def __getattr__(name):
    # the ACM search moved to brainpipe.bci.acm_search (model selection sits
    # with the pipelines); these two names still resolve here, on first use
    if name in ("AugmentedCovarianceSearchCV", "moabb_param_grid"):
        from brainpipe.features import acm_search

        return getattr(acm_search, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
