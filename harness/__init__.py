"""SpiNNBench's benchmark harness: configs, engines, the timed loop, MLPerf logs, results.

Importing the harness imports no machine-learning framework; an engine
imports its own when a run needs it.
"""
