"""Costs per KVM_RUN under workload profiles: an exact Markov-chain solution
and a Monte Carlo estimate over the same model."""
