"""Cohort review: worklist dock, case prefetching, Segment All, review state."""
