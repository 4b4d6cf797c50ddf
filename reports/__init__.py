"""Reports over the result store: dashboard, static HTML report, TensorBoard export, comparison tables."""
