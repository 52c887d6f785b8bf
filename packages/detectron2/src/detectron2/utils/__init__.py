"""``detectron2.utils``: events, comm, registry, logger, file_io, visualizer, testing, env."""
