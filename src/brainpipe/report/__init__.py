"""Per-subject and group HTML reports assembled from stage fragments."""

from .fragments import fragment_item, read_fragment, write_fragment
from .subject import build_group_report, build_subject_report

__all__ = ["build_group_report", "build_subject_report", "fragment_item", "read_fragment", "write_fragment"]
