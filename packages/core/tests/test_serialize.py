import pickle

from modet.core.serialize import PicklableWrapper


def test_wrapped_lambda_survives_pickle_and_calls_through():
    offset = 7
    wrapped = PicklableWrapper(lambda x: x + offset)  # a closure: plain pickle refuses it
    assert wrapped(1) == 8
    restored = pickle.loads(pickle.dumps(wrapped))
    assert restored(1) == 8


def test_wrapper_forwards_attributes_and_does_not_nest():
    wrapped = PicklableWrapper(PicklableWrapper([3, 1, 2]))
    assert wrapped.index(1) == 1
    assert isinstance(wrapped._obj, list)
