#!/usr/bin/env bash
# Fetch Apache Kafka's jars (broker, CLI tools, logging backend) with Maven into
# ~/.cache/millrace/kafka-<version>/libs, for use as a reference broker and as the
# official CLI tools in tests and benchmarks (see bench/kafkaref.py).
#
# usage: bench/fetch-kafka.sh [VERSION | --latest]
#   VERSION   exact Apache Kafka version (e.g. 4.1.2); default: $MILLRACE_KAFKA_VERSION,
#             else the version pinned in bench/KAFKA_VERSION (what bench/kafkaref uses,
#             so a cached install needs no network at all)
#   --latest  the newest 4.1.x patch release Maven can resolve (falls back to the newest
#             complete 4.1.x in the cache when Maven cannot reach its repository)
# env:      MILLRACE_CACHE (default ~/.cache/millrace), MILLRACE_KAFKA_VERSION
#
# Idempotent: an install is complete when libs/.complete exists; then nothing is fetched.
# Prints progress on stderr and the Kafka home directory as the last line on stdout.
# The jars are never part of the repository.
set -euo pipefail

CACHE="${MILLRACE_CACHE:-$HOME/.cache/millrace}"
M2="$CACHE/m2"
LOG4J_VERSION="2.25.3"             # the log4j2 line Kafka 4.1 ships (slf4j 1.7 binding)
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
STEP="start"

say() { echo "fetch-kafka: $*" >&2; }
step() { STEP="$1"; say "$1"; }
REPORTED=""
fail() { say "FAILED during step '$STEP': $*"; REPORTED=1; exit 1; }
trap 'rc=$?; if [ $rc -ne 0 ] && [ -z "$REPORTED" ]; then say "FAILED during step '"'"'$STEP'"'"' (exit $rc)"; fi' EXIT

step "checking java and mvn"
command -v java >/dev/null || fail "java not found on PATH (install OpenJDK 17+)"
command -v mvn >/dev/null || fail "mvn not found on PATH (install Maven 3.6+)"
mkdir -p "$CACHE"

pom_for() {  # $1 = version or version range of the Kafka artifacts
  local v="$1" deps="" a
  for a in kafka_2.13 kafka-tools kafka-server kafka-storage kafka-metadata kafka-raft \
           kafka-clients kafka-server-common; do
    deps+="    <dependency><groupId>org.apache.kafka</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"$'\n'
  done
  for a in log4j-api log4j-core log4j-slf4j-impl; do
    deps+="    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>$a</artifactId><version>$LOG4J_VERSION</version></dependency>"$'\n'
  done
  cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>millrace.local</groupId>
  <artifactId>kafka-reference-fetch</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
$deps  </dependencies>
</project>
POM
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${1:-}"
if [ -z "$VERSION" ]; then
  VERSION="${MILLRACE_KAFKA_VERSION:-$(tr -d '[:space:]' < "$HERE/KAFKA_VERSION")}"
elif [ "$VERSION" = "--latest" ]; then
  VERSION=""
fi
if [ -z "$VERSION" ]; then
  step "resolving the newest Apache Kafka 4.1.x release"
  work="$CACHE/fetch-resolve"
  mkdir -p "$work"
  # Only kafka-clients matters for the version; a range lets Maven pick the newest patch.
  cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>millrace.local</groupId><artifactId>kafka-version-probe</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>[4.1.0,4.2.0)</version></dependency>
  </dependencies>
</project>
POM
  rm -f "$work/list.txt"
  if mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$M2" "$DEP_PLUGIN:list" \
      -DexcludeTransitive=true -DoutputFile="$work/list.txt" >"$work/mvn.log" 2>&1; then
    VERSION="$(sed -n 's/.*org\.apache\.kafka:kafka-clients:jar:\([^:]*\):.*/\1/p' "$work/list.txt" | head -1)"
  fi
  if [ -z "$VERSION" ]; then
    say "could not resolve with Maven (see $work/mvn.log); looking in the cache"
    VERSION="$(ls -d "$CACHE"/kafka-4.1.*/libs/.complete 2>/dev/null \
      | sed 's#.*/kafka-\([^/]*\)/libs/.complete#\1#' | sort -V | tail -1 || true)"
    [ -n "$VERSION" ] || fail "no Kafka 4.1.x could be resolved and none is cached"
  fi
  say "newest 4.1 release: $VERSION"
fi
step "checking the version"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "bad version '$VERSION' (want e.g. 4.1.2)"

HOME_DIR="$CACHE/kafka-$VERSION"
LIBS="$HOME_DIR/libs"
mkdir -p "$HOME_DIR"

step "locking $HOME_DIR"
exec 9>"$HOME_DIR/.fetch.lock"
flock -w 900 9 || fail "another fetch of $VERSION holds $HOME_DIR/.fetch.lock for >15 min"

if [ -f "$LIBS/.complete" ]; then
  say "Kafka $VERSION already present in $LIBS ($(ls "$LIBS" | wc -l) jars)"
  echo "$HOME_DIR"
  exit 0
fi

step "writing the throwaway pom for Kafka $VERSION"
work="$HOME_DIR/fetch"
mkdir -p "$work"
pom_for "$VERSION" > "$work/pom.xml"

step "downloading Kafka $VERSION and its dependencies with Maven (log: $work/mvn.log)"
rm -rf "$LIBS.tmp"
if ! mvn -B -f "$work/pom.xml" -Dmaven.repo.local="$M2" "$DEP_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >"$work/mvn.log" 2>&1; then
  grep '^\[ERROR\]' "$work/mvn.log" | head -3 >&2 || true
  rm -rf "$LIBS.tmp"
  fail "mvn copy-dependencies failed (is $VERSION a released Kafka version? full log: $work/mvn.log)"
fi

step "checking the downloaded jars"
for j in "kafka_2.13-$VERSION.jar" "kafka-tools-$VERSION.jar" "kafka-server-$VERSION.jar" \
         "kafka-storage-$VERSION.jar" "kafka-metadata-$VERSION.jar" "kafka-raft-$VERSION.jar" \
         "kafka-clients-$VERSION.jar" "log4j-core-$LOG4J_VERSION.jar" \
         "log4j-slf4j-impl-$LOG4J_VERSION.jar"; do
  [ -s "$LIBS.tmp/$j" ] || fail "missing $j after copy-dependencies"
done

step "installing into $LIBS"
rm -rf "$LIBS"
mv "$LIBS.tmp" "$LIBS"
ls "$LIBS" > "$LIBS/.complete"
say "Kafka $VERSION ready: $(ls "$LIBS" | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in $LIBS"
echo "$HOME_DIR"
