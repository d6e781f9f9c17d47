"""`vimbench profile`: where the time, memory and energy of a cell go.

    categories.py  the kernel/operator -> category rule table (one place, tested)
    breakdown.py   torch.profiler events -> time per kernel and per category
    memory.py      what holds the peak GPU memory; allocated memory over one forward
    roofline.py    the scan's achieved GB/s and exp/s against measured ceilings
    session.py     one cell: timed loop with NVML telemetry, profiler, memory, roofline
    report.py      profile.md and the CSV tables;  plots.py  the PNG figures
    command.py     the CLI (`add_arguments`, `main`)
"""
