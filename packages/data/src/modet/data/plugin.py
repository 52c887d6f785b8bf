"""modet-data's own plugin: what it registers through modet's hooks."""
