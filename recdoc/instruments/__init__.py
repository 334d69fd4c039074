"""The doctor's instruments: what looks inside a checkpoint (`recdoc probe`, `recdoc rescore`, `analyze --deep`).

`checkpoints/` loads any ComiRec checkpoint into recdoc's models; `probe/` measures its interests; `rescore.py`
evaluates it with the reference evaluation beside the numbers its log gave (which the doctor reads and passes in).
They import the base modules and the trainer's models, data and evaluation, never the doctor (tests/test_layers.py).
"""
