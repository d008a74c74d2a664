"""The environment the workflow's jobs run in (called by the Snakefile).

Kept out of the Snakefile so that it stays `snakemake --lint` clean (the
linter flags environment variables read there).
"""

from __future__ import annotations

import os
import sys

#: BLAS/OpenMP thread variables: one thread per job unless the caller set them
#: (jobs run side by side; Snakemake's ``threads`` are the parallelism).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def prepare_job_environment():
    """Put this Python's ``bin`` first on ``PATH`` and default the BLAS threads to 1.

    The rules call ``brainpipe``: the one installed beside the Python that
    runs Snakemake is found first, so ``.venv/bin/snakemake`` works without
    activating the venv. Variables the caller set are kept.
    """
    here = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [here]:
        os.environ["PATH"] = os.pathsep.join([here, path]) if path else here
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
