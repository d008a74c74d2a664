"""Per-subject and group HTML reports assembled from stage fragments."""

from .fragments import fragment_item, read_fragment, write_fragment
from .group import build_group_report
from .provenance import config_hash, provenance
from .subject import PIPELINE_SECTIONS, build_subject_report

__all__ = [
    "PIPELINE_SECTIONS",
    "build_group_report",
    "build_subject_report",
    "config_hash",
    "fragment_item",
    "provenance",
    "read_fragment",
    "write_fragment",
]
