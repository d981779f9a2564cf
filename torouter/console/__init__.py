"""The console (SPEC §15): server-rendered pages over the management API's services.

`torouter.console.app.build_console` builds it; this package imports nothing by itself, so
that the dispatcher's `console.paths` costs the gateway no Jinja2 or Babel.
"""
