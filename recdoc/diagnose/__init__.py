"""The doctor: read a run, infer its configuration, apply the rules, report. Never imports TensorFlow."""
