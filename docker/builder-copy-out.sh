#!/bin/sh
# The command of the builder images (docker/Dockerfile.hub-builder-*): copies what the image
# built (/artifacts: build.py's dist/, e.g. neurocache-hub-linux-cpu and
# neurocache-hub-linux-cpu-onedir/) into the folder mounted at /out, owned by whoever owns
# that folder (so not by root on the host).
set -eu

out=${1:-/out}
artifacts=${ARTIFACTS:-/artifacts}
if [ ! -d "$out" ]; then  # the image has no /out: it must be mounted
  echo "builder: mount a folder at $out, e.g. docker run --rm -v \"\$PWD/dist/docker:$out\" IMAGE" >&2
  exit 2
fi
owner=$(stat -c %u:%g "$out")
for item in "$artifacts"/*; do
  [ -e "$item" ] || { echo "builder: nothing was built ($artifacts is empty)" >&2; exit 1; }
  name=${item##*/}
  rm -rf "${out:?}/$name"
  cp -a "$item" "$out/$name"
  chown -R "$owner" "$out/$name"
  echo "$out/$name"
done
