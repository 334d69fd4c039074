"""`recdoc tune`: a tuning assistant on Optuna that starts from the doctor's diagnosis and knows seed noise.

Modules: `space` (the search space from the findings), `study` (storage, resume, progress), `objective` (a trial is
a recdoc run folder, its validation curve reported to the pruner), `seeds` (the verdict against seed noise),
`report` (tune.md, tune.json, PNGs), `tuner` (the command's steps in order), `jobs` and `worker` (`--jobs`:
processes on this machine sharing the study). Optuna is imported only here.
"""
