import logging

import pytest

from modet.core.logger import create_small_table, log_every_n, log_every_n_seconds, log_first_n, setup_logger


def test_setup_logger_writes_a_file_per_rank_and_is_idempotent(tmp_path, capsys):
    logger = setup_logger(str(tmp_path), name="modet_test_logger_a", color=False)
    assert setup_logger(str(tmp_path), name="modet_test_logger_a", color=False) is logger
    assert len(logger.handlers) == 2  # console + file, not added twice
    assert logger.level == logging.DEBUG and not logger.propagate
    logger.info("hello file")
    for handler in logger.handlers:
        handler.flush()
    assert "hello file" in (tmp_path / "log.txt").read_text()
    assert "hello file" in capsys.readouterr().out

    other = setup_logger(str(tmp_path / "run.log"), distributed_rank=2, name="modet_test_logger_b")
    assert len(other.handlers) == 1  # rank 2: file only, no console
    other.warning("from rank two")
    other.handlers[0].flush()
    assert "from rank two" in (tmp_path / "run.log.rank2").read_text()


def test_colored_console_abbreviates_the_name(capsys):
    setup_logger(name="modet_test_logger_c", abbrev_name="mt")
    logging.getLogger("modet_test_logger_c.sub").warning("careful")
    out = capsys.readouterr().out
    assert "mt.sub" in out and "WARNING" in out and "careful" in out


def test_rate_limited_logging(caplog):
    caplog.set_level(logging.INFO)

    def emit(i):
        log_first_n(logging.INFO, "first", n=2, name="rate")
        log_every_n(logging.INFO, f"every {i}", n=3, name="rate")
        log_every_n_seconds(logging.INFO, "seconds", n=3600, name="rate")

    for i in range(7):
        emit(i)
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("first") == 2
    assert [m for m in messages if m.startswith("every")] == ["every 0", "every 3", "every 6"]
    assert messages.count("seconds") == 1


def test_log_first_n_by_message_counts_across_lines(caplog):
    caplog.set_level(logging.INFO)
    log_first_n(logging.INFO, "same text", name="rate2", key="message")
    log_first_n(logging.INFO, "same text", name="rate2", key="message")
    assert [r.getMessage() for r in caplog.records] == ["same text"]
    with pytest.raises(ValueError, match="key must be"):
        log_first_n(logging.INFO, "x", key="line")


def test_create_small_table():
    assert create_small_table({"AP": 40.12345, "AP50": 60}) == (
        "|   AP   |  AP50  |\n|:------:|:------:|\n| 40.123 |   60   |"
    )
    # detectron2's output for these (tabulate, pipe format): odd padding goes to the right
    assert create_small_table({"a": 1.0, "x": "abc", "bb": 7}) == (
        "|   a   |  x  |  bb  |\n|:-----:|:---:|:----:|\n| 1.000 | abc |  7   |"
    )
