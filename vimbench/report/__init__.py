"""`vimbench report`: tables, Figure-1 plots and a verdict on the paper's claims from run directories.

load.py reads runs; estimate.py extrapolates memory for OOM cells; tables.py builds the
pivots and Vim/DeiT ratios; claims.py gives the verdicts; plots.py draws; compare.py puts
two runs side by side; build.py writes the report directory; command.py is the CLI.
"""
