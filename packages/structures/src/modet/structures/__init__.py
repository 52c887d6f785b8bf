"""modet-structures."""
