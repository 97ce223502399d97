"""Survey protocols (regulations) as data, and the evaluation maths.

Pure: no I/O beyond reading packaged data files, no clocks, no asyncio.
"""
