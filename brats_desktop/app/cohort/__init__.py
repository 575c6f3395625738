"""Cohort review (issue 11): worklist dock, case prefetching, Segment All, review state."""
