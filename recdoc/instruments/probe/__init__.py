"""`recdoc probe RUN`: look inside a multi-interest checkpoint and measure the health of its K interests.

A multi-interest model can fail in ways no log shows: interests that collapse into one vector, interests that never
win the readout and so never learn. The probe restores a recdoc run's best checkpoint, computes the interests of the
validation (or test) users exactly as evaluation does, and measures, per interest:

- its share of the retrieved items: after the K-interest merge (reference section 5), each item of a user's top-N
  is credited to the interest that scores it highest (that interest's own top-N is what put it in the merge);
- its share of the hits (retrieved items that are among the user's targets);
- how often it wins the readout for a true target (argmax_k <v_k, e_target>, the training readout's choice);
- its norm, and how often it is near zero next to the user's strongest interest;

and, over pairs of a user's interests, the cosine similarity (mean, per pair, and the share of users with every
pair above `InterestThresholds.COLLAPSE_COSINE`) and the overlap of the two interests' own top-N lists (the share of one list that the
other retrieves too). The numbers go to `probe.json`; the rules `interest-collapse` and `dead-interest`
(recdoc/diagnose/rules/interests.py) judge them.

One module per job:
- `tally.py`: `InterestTally`, the statistics, pure numpy (testable on hand-built vectors);
- `restore.py`: find a recdoc run's configuration, best checkpoint and data folder, and restore its model;
- `measure.py`: run a model's interests over a split's users into the tally (TensorFlow and faiss, imported
  when called), for a recdoc run or any checkpoint `recdoc.instruments.checkpoints` loads;
- `files.py`: `probe.json`, written beside the run and never replacing one; `render.py`: the console table.
"""
