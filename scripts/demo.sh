#!/usr/bin/env bash
# Install Stylize into .venv, start a real daemon, stylize the bundled photo with a
# bundled painting through it, stop the daemon. The result lands in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

PORT=${STYLIZE_PORT:-50051}
ADDRESS="127.0.0.1:$PORT"
mkdir -p out
.venv/bin/stylize serve --port "$PORT" >out/daemon.log 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT

for _ in $(seq 1 240); do
  .venv/bin/stylize info --address "$ADDRESS" >/dev/null 2>&1 && break
  kill -0 $DAEMON 2>/dev/null || { cat out/daemon.log; exit 1; }
  sleep 0.5
done

SAMPLES=daemon/stylize/samples
.venv/bin/stylize apply "$SAMPLES/astronaut.jpg" --style starry_night \
  --address "$ADDRESS" -o out/astronaut-starry_night.png
.venv/bin/stylize apply "$SAMPLES/astronaut.jpg" --style great_wave:0.5 --style starry_night:0.5 \
  --strength 0.8 --address "$ADDRESS" -o out/astronaut-mix.png
echo "done: out/astronaut-starry_night.png and out/astronaut-mix.png (daemon log: out/daemon.log)"
