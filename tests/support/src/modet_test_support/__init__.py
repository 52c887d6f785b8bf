"""Test helpers shared by the packages of the modet repository (not published).

:mod:`modet_test_support.parity` holds detectron2's parity fixtures, the weight filler and the
comparison rule of ``shared/parity/README.md``.
"""
