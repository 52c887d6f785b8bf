"""The example plugin of modet's plugin guide (a box head, a checkpoint format, a subcommand)."""
