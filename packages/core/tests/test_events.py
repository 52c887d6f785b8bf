import pytest

from modet.core.events import EventStorage, HistoryBuffer, NoEventStorageError, get_event_storage, has_event_storage


def test_get_event_storage_outside_a_storage_is_a_clear_error():
    assert not has_event_storage()
    with pytest.raises(AssertionError, match=r"with EventStorage\(\.\.\.\)"):
        get_event_storage()
    with pytest.raises(NoEventStorageError):
        get_event_storage()


def test_nested_storages_and_exit_order():
    with EventStorage() as outer:
        assert get_event_storage() is outer
        with EventStorage(start_iter=5) as inner:
            assert get_event_storage() is inner
            assert inner.iter == 5
        assert get_event_storage() is outer
    assert not has_event_storage()


def test_scalars_history_and_smoothing():
    with EventStorage(start_iter=0) as storage:
        for value in (1.0, 5.0, 3.0):
            storage.put_scalar("loss", value)
            storage.put_scalar("lr", value / 10, smoothing_hint=False)
            storage.step()
        assert storage.iter == 3
        assert storage.latest()["loss"] == (3.0, 2)
        smoothed = storage.latest_with_smoothing_hint(window_size=3)
        assert smoothed["loss"] == (3.0, 2)  # median of 1, 5, 3
        assert smoothed["lr"] == (pytest.approx(0.3), 2)
        assert storage.latest_with_smoothing_hint(window_size=2)["loss"] == (4.0, 2)
        history = storage.history("loss")
        assert history.values() == [(1.0, 0), (5.0, 1), (3.0, 2)]
        assert history.global_avg() == pytest.approx(3.0)
        assert history.avg(2) == 4.0
        assert set(storage.histories()) == {"loss", "lr"}
        assert storage.smoothing_hints() == {"loss": True, "lr": False}


def test_put_scalars_name_scope_and_cur_iter():
    with EventStorage() as storage:
        with storage.name_scope("rpn"):
            storage.put_scalars(num_pos=4, num_neg=12, cur_iter=7)
        assert storage.latest() == {"rpn/num_pos": (4.0, 7), "rpn/num_neg": (12.0, 7)}


def test_smoothing_hint_must_not_change():
    with EventStorage() as storage:
        storage.put_scalar("x", 1)
        with pytest.raises(ValueError, match="smoothing_hint"):
            storage.put_scalar("x", 2, smoothing_hint=False)


def test_unknown_history_names_the_metric():
    with EventStorage() as storage, pytest.raises(KeyError, match="nope"):
        storage.history("nope")


def test_images_are_queued_with_their_iteration_and_cleared():
    image = object()  # any tensor-like; the storage only queues it for the writers
    with EventStorage(start_iter=3) as storage:
        storage.put_image("vis", image)
        assert storage._vis_data == [("vis", image, 3)]
        storage.clear_images()
        assert storage._vis_data == []


def test_history_buffer_is_bounded():
    buffer = HistoryBuffer(max_length=2)
    for i in range(4):
        buffer.update(float(i))
    assert buffer.values() == [(2.0, 2), (3.0, 3)]
    assert buffer.latest() == 3.0
    assert buffer.global_avg() == 1.5


def test_smoothing_counts_the_samples_of_the_last_iterations():
    # detectron2's rule: a window of N iterations holds however many values were logged in them
    with EventStorage() as storage:
        for k in range(20):
            storage.put_scalar("every", k)
            if (k + 1) % 2 == 0:
                storage.put_scalar("second", k)
            if (k + 1) % 5 == 0:
                storage.put_scalar("fifth", k)
            storage.step()
        assert {k: storage.count_samples(k, 10) for k in ("every", "second", "fifth")} == {
            "every": 10,
            "second": 5,
            "fifth": 2,
        }
        smoothed = storage.latest_with_smoothing_hint(10)
        assert smoothed["every"] == (14.5, 19)  # median of 10..19
        assert smoothed["second"] == (15.0, 19)  # median of 11, 13, 15, 17, 19
        assert smoothed["fifth"] == (16.5, 19)  # median of 14, 19
        assert storage.count_samples("fifth", 1) == 1
