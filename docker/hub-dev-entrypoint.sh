#!/usr/bin/env bash
# Entry point of the hub-dev image (docker/Dockerfile.hub-dev). Before it runs the command it
# makes the checkout bind-mounted at /src usable, doing only what is still missing, so it
# can run any number of times in one container:
#   1. `pip install -e /src` (no deps, no index: the image holds them all), unless the
#      installed `neurocache` already is this checkout;
#   2. the built-in embedder (what `make` builds), unless the checkout already has it.
set -euo pipefail

SRC=${NEUROCACHE_SRC:-/src}
EMBEDDER=$SRC/src/neurocache/models/builtin/all-minilm-l6-v2-f16.gguf

say() { echo "hub-dev: $*" >&2; }

if [[ ! -f $SRC/pyproject.toml || ! -d $SRC/src/neurocache ]]; then
  say "no Neurocache checkout at $SRC: run the image with -v \"\$PWD:$SRC\" from the repository root"
  exit 2
fi

installed_from_src() {
  command -v neurocache >/dev/null 2>&1 || return 1
  python - "$SRC" <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("neurocache")
src = pathlib.Path(sys.argv[1], "src").resolve()
sys.exit(0 if spec and spec.origin and pathlib.Path(spec.origin).resolve().is_relative_to(src) else 1)
EOF
}

if ! installed_from_src; then
  say "installing $SRC in editable mode"
  # --no-build-isolation: setuptools is in the image (requirements/hub-dev.txt), so nothing
  # is fetched at start-up. It writes only into the image's venv (a .pth naming $SRC/src).
  pip install --quiet --no-deps --no-index --no-build-isolation -e "$SRC"
fi

if [[ ! -f $EMBEDDER ]]; then
  if [[ ! -w ${EMBEDDER%/*} ]]; then
    say "${EMBEDDER#"$SRC"/} is missing and uid $(id -u) cannot write it: run \`make\` on the" \
        "host first, or mount the checkout read-write with the image built for your uid" \
        "(--build-arg UID=\$(id -u) --build-arg GID=\$(id -g))"
    exit 2
  fi
  say "building the built-in embedder (build_scripts/convert_minilm.py)"
  python "$SRC/build_scripts/convert_minilm.py" --type f16 --out "$EMBEDDER"
fi

exec "$@"
