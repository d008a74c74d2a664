"""Tokens of epochs under a frozen TFM tokenizer file, cached per process across folds."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["FILE_TOKENS", "TOKEN_CACHE_SIZE", "FileTokenCache"]

#: Most epochs whose tokens :class:`FileTokenCache` keeps per process.
TOKEN_CACHE_SIZE = 50_000


class FileTokenCache:
    """Tokens of epochs under a tokenizer *file*, kept by the epoch's bytes.

    A tokenizer read from a file is frozen, so an epoch's tokens are a
    function of the file, the sampling frequency and the epoch's samples.
    Cross-validation clones the classifier for every fold and tokenizes each
    trial once per fold it appears in (5 times in a 5-fold within-session
    evaluation; on the demo, tokenizing was 40 % of the transformer's
    offline time). Keys: the file's resolved path, modification time and
    size, ``sfreq``; then a BLAKE2 digest of each float32 epoch. The cache is
    per process and cleared when it passes :data:`TOKEN_CACHE_SIZE` epochs.
    """

    def __init__(self):
        self._stores = {}
        self._size = 0

    @staticmethod
    def key(path, sfreq):
        path = Path(path).resolve()
        stat = os.stat(path)
        return str(path), stat.st_mtime_ns, stat.st_size, float(sfreq)

    def tokens(self, key, X, tokenize):
        """Tokens of ``X`` (float32, (n, n_chans, n_times)); ``tokenize(X_missing)`` for the rest."""
        if len(X) == 0:
            return tokenize(X)
        digests = [hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).digest() for x in X]
        store = self._stores.setdefault(key, {})
        missing = {}  # digest -> first epoch with it
        for i, d in enumerate(digests):
            if d not in store and d not in missing:
                missing[d] = i
        if missing:
            if self._size + len(missing) > TOKEN_CACHE_SIZE:
                self._stores, self._size = {key: {}}, 0
                store = self._stores[key]
            store.update(zip(missing, tokenize(X[list(missing.values())])))
            self._size += len(missing)
        return np.stack([store[d] for d in digests])


#: The process's cache (what :class:`~brainpipe.models.tfm_transformer.TFMTransformerClassifier` uses).
FILE_TOKENS = FileTokenCache()
