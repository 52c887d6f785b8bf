"""modet-ops."""
