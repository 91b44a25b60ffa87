"""One package per published method, each with the same shape (see ml.methods.base)."""
