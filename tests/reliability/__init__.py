"""Reliability: NIJA is never silently wrong under real-world faults (issue 11)."""
