"""The platform registry (SPEC R5.2, R9.1): a leaf package that imports nothing else from
torouter. `names` holds the enums, `spec` the record, one module per platform builds its
spec, and `registry` lists them and derives the routing tables."""
