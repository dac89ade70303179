"""Simulation: the interpreter that runs a policy's hooks on the reference
model, scenario replay, the explorer and trace rendering."""
