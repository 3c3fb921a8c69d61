#!/usr/bin/env bash
# The test command: installs what the tests need, then runs ruff, mypy --strict and pytest.
#
#   ./test.sh                 every tier that runs on one machine (unit, integration with
#                             real clients and real broker processes, Apache Kafka's CLI)
#   ./test.sh -k produce      extra arguments go to pytest
#
# Needs Python >= 3.11, root or sudo for apt-get (kcat), Java 17 + Maven (Apache Kafka's
# CLI tools are fetched as jars into ~/.cache/millrace) and Go (helm and Kubernetes'
# OpenAPI schema for the operator's chart tests come from Go modules, cached there too).
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "test.sh: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

say "installing the project with its test extras"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,operator]'

if ! command -v kcat >/dev/null; then
  say "installing kcat (Debian package)"
  as_root apt-get update -qq || true
  as_root apt-get install -y -qq kcat >/dev/null
fi

say "fetching Apache Kafka's jars for the CLI tier (cached after the first run)"
bash bench/fetch-kafka.sh >/dev/null

say "building helm and fetching Kubernetes' OpenAPI schema for the operator tests (cached)"
bash e2e/toolchain/build-go-tools.sh helm >/dev/null
( export GOMODCACHE="$HOME/.cache/millrace/go/mod" GOFLAGS=-modcacherw GOTOOLCHAIN=local
  cd /tmp && go mod download k8s.io/kubernetes@v1.34.4 )

say "ruff"
python3 -m ruff check broker-image/src operator/src tests bench
python3 -m ruff format --check broker-image/src operator/src tests bench
say "mypy --strict"
python3 -m mypy

say "pytest"
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  say "pytest collected no tests: that is a failure here (a test tier went missing)"
  exit 1
fi
exit "$rc"
