"""modet-evaluation."""
