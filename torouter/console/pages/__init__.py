"""Console pages, one module per resource; each exposes `routes`."""
