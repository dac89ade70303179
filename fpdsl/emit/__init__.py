"""Code generation: policy hooks to kernel patches (anchors, templates, diffs)."""
