"""Node-side end-to-end helpers: the SDK scripts (*.mjs) and the CLIs under clis/ are installed
by scripts/setup-node.sh; `runtime` finds them and the Node that runs them."""
