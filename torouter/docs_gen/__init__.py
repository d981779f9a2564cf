"""Reference pages of the documentation site, generated from the code so they cannot drift:
the error reference from `errors.ERRORS`, the configuration reference from the settings
models, the provisioning reference from the declaration models. `python -m torouter.docs_gen`
rewrites them; a test fails when a committed page differs from what the code generates."""
