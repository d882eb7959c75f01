#!/usr/bin/env bash
# Sourced by the scripts that build and test: puts Node 24, the LTS the image
# ships, first on PATH. A machine whose own Node is older takes it from the npm
# registry's `node` package (cached by npx after the first run).
GPUBATCH_NODE_MAJOR=24
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ne "$GPUBATCH_NODE_MAJOR" ]; then
  node_bin="$(npx -y "node@$GPUBATCH_NODE_MAJOR" -p 'require("path").dirname(process.execPath)')"
  [ -x "$node_bin/node" ] || { echo "could not get Node $GPUBATCH_NODE_MAJOR from the npm registry" >&2; exit 1; }
  export PATH="$node_bin:$PATH"
fi
echo "[node] $(node --version), npm $(npm --version)" >&2
