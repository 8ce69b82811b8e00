#!/usr/bin/env bash
# Builds the pinned Go tools (opa, kube-apiserver, kube-scheduler, kube-controller-manager, etcd,
# kwok, helm, regal) once, from the Go module
# proxy only, into a per-machine cache, and links them into .tools/bin of this checkout.
#
# The version of each tool is pinned in exactly one place: the go.mod (and go.sum) of its folder
# under tools/. A tool is rebuilt only when that go.mod/go.sum, the Go version or the build flags
# change, so a second run (or a fresh clone on the same machine) is a no-op in seconds.
#
#   tools/build.sh            build what is missing of the default tools, link them
#   tools/build.sh NAME...    the same for the named tools only (e.g. promtool)
#   tools/build.sh --list     print tool, version and cache path
#
# promtool (Prometheus' rule checker) is not a default tool: only the chart tests use it, and its
# cold build is long (8.5 CPU-minutes: about 5 minutes on an idle 2-core machine, 42 minutes when it
# shared the machine with seven other builds), so `npm run test:chart` builds it, not `npm run tools`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${KUBIYA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubiya-runner/tools}
bin="$repo/.tools/bin"
mkdir -p "$cache" "$bin"

if ! command -v go >/dev/null 2>&1; then
  echo "tools: Go is required to build the pinned tools (go1.26 or newer); install it and retry" >&2
  exit 2
fi
goversion=$(go env GOVERSION)

# name | folder | package | version module (for -ldflags stamping)
tools=(
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|k8s.io/kubernetes"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|k8s.io/kubernetes"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|k8s.io/kubernetes"
  "etcd|etcd|.|go.etcd.io/etcd/server/v3"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|sigs.k8s.io/kwok"
  "opa|opa|github.com/open-policy-agent/opa|github.com/open-policy-agent/opa"
  "helm|helm|helm.sh/helm/v3/cmd/helm|helm.sh/helm/v3"
  "regal|regal|github.com/styrainc/regal|github.com/styrainc/regal"
)
optional=(
  "promtool|promtool|github.com/prometheus/prometheus/cmd/promtool|github.com/prometheus/prometheus"
)

module_version() { # folder module
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

ldflags_for() { # name version
  local name=$1 v=$2
  case "$name" in
    kube-apiserver|kube-scheduler|kube-controller-manager)
      local mm=${v#v}; local major=${mm%%.*}; local rest=${mm#*.}; local minor=${rest%%.*}
      local p=k8s.io/component-base/version
      echo "-s -w -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      ;;
    helm)
      echo "-s -w -X helm.sh/helm/v3/internal/version.version=$v"
      ;;
    regal)
      echo "-s -w -X github.com/styrainc/regal/pkg/version.Version=$v"
      ;;
    *) echo "-s -w" ;;
  esac
}

list_only=false
[[ "${1:-}" == "--list" ]] && { list_only=true; shift; }
if [[ $# -gt 0 ]]; then
  selected=()
  for want in "$@"; do
    hit=false
    for row in "${tools[@]}" "${optional[@]}"; do
      [[ "${row%%|*}" == "$want" ]] && { selected+=("$row"); hit=true; }
    done
    $hit || { echo "tools: unknown tool $want" >&2; exit 2; }
  done
  tools=("${selected[@]}")
elif $list_only; then
  tools+=("${optional[@]}")
fi

total_start=$(date +%s)
for row in "${tools[@]}"; do
  IFS='|' read -r name dir pkg mod <<<"$row"
  version=$(module_version "$dir" "$mod")
  flags=$(ldflags_for "$name" "$version")
  key=$( { cat "$here/$dir/go.mod" "$here/$dir/go.sum"; find "$here/$dir" -maxdepth 1 -name '*.go' -print0 | sort -z | xargs -0 cat; echo "$goversion $flags"; } | sha256sum | cut -c1-16)
  target="$cache/$name-$version-$key/$name"
  if $list_only; then
    printf '%-15s %-10s %s\n' "$name" "$version" "$target"
    continue
  fi
  if [[ ! -x "$target" ]]; then
    echo "tools: building $name $version (cold build, this takes a while)" >&2
    start=$(date +%s)
    tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
    ( cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$tmp/$name" "$pkg" )
    mkdir -p "$(dirname "$target")"
    mv "$tmp/$name" "$target"
    rmdir "$tmp"
    echo "tools: built $name in $(( $(date +%s) - start ))s" >&2
  fi
  ln -sfn "$target" "$bin/$name"
done
$list_only || echo "tools: ready in $bin ($(( $(date +%s) - total_start ))s)" >&2
