#!/usr/bin/env bash
# bump.sh VERSION: rewrite this wrapper module for k8s.io/kubernetes VERSION
# (e.g. 1.37.2). Upstream's go.mod points every k8s.io staging module at
# ./staging/src/..., which a dependent module cannot see; the proxy publishes
# each of them as k8s.io/X v0.MINOR.PATCH, so this module requires those.
set -euo pipefail
cd "$(dirname "$0")"
v=${1:?usage: bump.sh VERSION (e.g. 1.37.2)}
v=${v#v}
go mod download "k8s.io/kubernetes@v$v"
upstream="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$v.mod"
{
  sed -n '1,/^module /p' go.mod | sed '$d'
  echo "module github.com/faultline/faultline/k8s/build/kube"
  echo
  grep -E '^(go|godebug) ' "$upstream" | sed 'a\\'
  sed -n '/^tool (/,/^)/p' go.mod
  echo
  echo "require k8s.io/kubernetes v$v"
  echo
  echo "require ("
  grep -E '^\s+k8s.io/[a-z-]+ => ./staging' "$upstream" | grep -v 'k8s.io/sample-' | awk -v v="0.${v#*.}" '{print "\t" $1 " v" v}'
  echo ")"
} >go.mod.new
mv go.mod.new go.mod
go mod tidy
echo "bump.sh: k8s.io/kubernetes v$v; build with k8s/cluster.sh build"
