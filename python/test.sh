#!/usr/bin/env bash
# Build the `seqflow` Python package into a venv under target/ and run its tests.
# Installs everything it needs from PyPI (maturin, pytest, numpy); run by scripts/test-all.
#   python/test.sh            build (release), lint the extension crate, run pytest
#   SEQFLOW_PY_BENCH=1 ...    also install the benchmark peers (faster-fifo, slick-queue-py)
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
venv="$root/target/pyvenv"
export CARGO_TARGET_DIR="$root/target/python"
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade "maturin>=1.5,<2" pytest numpy
if [ "${SEQFLOW_PY_BENCH:-0}" = 1 ]; then
  "$venv/bin/python" -m pip install -q faster-fifo slick-queue-py || echo "benchmark peers failed to install" >&2
fi

echo "== python: rustfmt + clippy (the extension crate is outside the workspace)"
cargo fmt --check --manifest-path Cargo.toml
cargo clippy --quiet --release --all-targets --manifest-path Cargo.toml -- -D warnings

echo "== python: build the extension (maturin develop --release) and the Rust peer"
(source "$venv/bin/activate" && maturin develop --release --quiet)
cargo build --quiet --release --example rust_peer --manifest-path Cargo.toml

echo "== python: pytest"
SEQFLOW_RUST_PEER="$CARGO_TARGET_DIR/release/examples/rust_peer" \
  timeout 600 "$venv/bin/python" -m pytest -q tests
