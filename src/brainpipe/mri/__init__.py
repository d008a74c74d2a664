"""Structural MRI: brain mask, tissue classes and image-quality metrics of the T1w.

* :func:`t1_qc`: T1w -> brain mask NIfTI, metrics TSV (MRIQC names), mosaics,
  report fragment.
* :mod:`.iqms`: the metrics as array functions; :mod:`.segment`: the masks.
"""

from .qc import compute_iqms, load_t1, t1_qc

__all__ = ["compute_iqms", "load_t1", "t1_qc"]
