"""Per-subject and group HTML reports assembled from stage fragments."""
