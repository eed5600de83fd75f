"""Campaigns: thousands of simulated runs — sequences × faults × dispersed engines — on this
machine's cores or a Dask cluster, with the results as Parquet data and a report.

    hil campaign configs/campaigns/tq12_three_burn_dispersed.toml [--workers N | --scheduler ADDRESS]

spec.py reads the campaign file, runs.py is one run (picklable, reproducible alone),
execute.py hands the runs to a process pool or Dask and writes the datasets, report.py the
report, cli.py the command.
"""
