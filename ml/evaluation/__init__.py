"""Evaluation of a method's checkpoint (`python -m ml eval METHOD`). A skeleton for now: it
measures what needs no oracle (reconstruction with no edit, render time); the oracle-graded
metrics of issue 4 (attribute success, identity similarity, exemplar fidelity / slider rank
correlation) plug in here once ml.oracles provides the evaluation networks."""
