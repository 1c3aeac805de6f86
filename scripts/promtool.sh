#!/bin/sh
# Runs promtool (Prometheus' checker for rules and rule tests) with the given arguments: the one
# on PATH if there is one, else the one in Debian's prometheus package, downloaded once with
# `apt-get download` and unpacked into node_modules/.cache/promtool (nothing installed system-wide).
# Fails naming what is missing when neither works.
set -eu

if command -v promtool >/dev/null 2>&1; then
  exec promtool "$@"
fi

cache="$(cd "$(dirname "$0")/.." && pwd)/node_modules/.cache/promtool"
promtool="$cache/usr/bin/promtool"

fail() {
  echo "promtool.sh: promtool is not on PATH and could not be fetched: $1." >&2
  echo "Install it (apt-get install prometheus) or put a promtool binary on PATH." >&2
  exit 1
}

if [ ! -x "$promtool" ]; then
  command -v apt-get >/dev/null 2>&1 || fail "apt-get is missing"
  command -v dpkg-deb >/dev/null 2>&1 || fail "dpkg-deb is missing"
  work="$cache.download.$$"
  rm -rf "$work" && mkdir -p "$work/lists/partial" "$work/apt/archives/partial"
  trap 'rm -rf "$work"' EXIT
  # The machine's package lists first; if it has none (a fresh machine), lists of our own.
  if ! (cd "$work" && apt-get -qq download prometheus >/dev/null 2>&1); then
    private="-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/apt"
    # shellcheck disable=SC2086
    apt-get -qq $private update >"$work/update.log" 2>&1 || fail "apt-get update failed ($(tail -n 1 "$work/update.log"))"
    # shellcheck disable=SC2086
    (cd "$work" && apt-get -qq $private download prometheus >"$work/download.log" 2>&1) ||
      fail "apt-get download prometheus failed ($(tail -n 1 "$work/download.log"))"
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/extracted" || fail "dpkg-deb could not unpack the package"
  [ -x "$work/extracted/usr/bin/promtool" ] || fail "the prometheus package holds no usr/bin/promtool"
  mkdir -p "$cache/usr/bin"
  # A rename within one file system, so a concurrent run never sees half a binary.
  mv "$work/extracted/usr/bin/promtool" "$promtool.$$" && mv "$promtool.$$" "$promtool"
  rm -rf "$work" # exec below skips the EXIT trap
fi

exec "$promtool" "$@"
