"""TCP inference: line protocol → request parsing → cross-connection batcher →
the model thread pool → the policy engine."""
