"""`vimbench report`: tables, Figure-1 plots and a verdict on the paper's claims from run directories.

load.py reads runs; estimate.py extrapolates memory for OOM cells from probe rows;
probe_speed.py takes an OOM cell's throughput from its probes (only when flat in batch);
tables.py builds cells and Vim/DeiT ratios; claims.py gives the verdicts per row; verdict.py
the verdict table at the top (paper's Vim and vimbench's Vim vs DeiT-Ti eager and the fastest
DeiT-Ti); fastest.py the same pairing at every resolution (vimbench's fastest and eager
Vim-Ti against the fastest DeiT-Ti); plots.py draws; compare.py matches two runs; sections.py writes the markdown;
build.py puts the report directory together; command.py is the CLI.  paper.py reads
vimbench/data/paper_figure1.csv.
"""
