"""`make demo`: the main job on bundled defaults. Filled in as the pipeline lands."""
