"""The composition root: builds settings, the store, the arXiv client and the platforms, and runs them."""
