"""The SpiNNaker training engine (Keras model in, trained Keras weights out).

Not built yet: the harness's engine interface (harness.engines.base) is the
contract it will plug into; see DESIGN.md, "spinn_dnn".
"""
