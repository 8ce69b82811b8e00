#!/usr/bin/env bash
# Builds the pinned Go tools (opa, kube-apiserver, kube-scheduler, kube-controller-manager, etcd,
# kwok, helm, regal) once, from the Go module
# proxy only, into a per-machine cache, and links them into .tools/bin of this checkout.
# With --real-node (or KUBIYA_REAL_NODE=1) it also builds the optional real node's tools: kubelet and
# kube-proxy (same module as the control plane), containerd 2.x with its runc shim and ctr,
# kube-router (test NetworkPolicy enforcer) and CoreDNS. See docs/real-node.md.
#
# The version of each tool is pinned in exactly one place: the go.mod (and go.sum) of its folder
# under tools/. A tool is rebuilt only when that go.mod/go.sum, the Go version or the build flags
# change, so a second run (or a fresh clone on the same machine) is a no-op in seconds.
#
#   tools/build.sh            build what is missing of the default tools, link them
#   tools/build.sh NAME...    the same for the named tools only (e.g. promtool)
#   tools/build.sh --list     print tool, version and cache path
#   tools/build.sh --real-node   also build the real node's tools (kubelet, containerd, ...)
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
# Only for the real-node tier (`--real-node`): never part of the default build.
node_tools=(
  "kubelet|kubernetes|k8s.io/kubernetes/cmd/kubelet|k8s.io/kubernetes"
  "kube-proxy|kubernetes|k8s.io/kubernetes/cmd/kube-proxy|k8s.io/kubernetes"
  "containerd|containerd|github.com/containerd/containerd/v2/cmd/containerd|github.com/containerd/containerd/v2"
  "containerd-shim-runc-v2|containerd|github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2|github.com/containerd/containerd/v2"
  "ctr|containerd|github.com/containerd/containerd/v2/cmd/ctr|github.com/containerd/containerd/v2"
  "kube-router|kube-router|github.com/cloudnativelabs/kube-router/v2/cmd/kube-router|github.com/cloudnativelabs/kube-router/v2"
  "coredns|coredns|github.com/coredns/coredns|github.com/coredns/coredns"
)
optional=(
  "workflow-controller|argo|github.com/argoproj/argo-workflows/v4/cmd/workflow-controller|github.com/argoproj/argo-workflows/v4"
  "promtool|promtool|github.com/prometheus/prometheus/cmd/promtool|github.com/prometheus/prometheus"
  "gatekeeper|gatekeeper|github.com/open-policy-agent/gatekeeper/v3|github.com/open-policy-agent/gatekeeper/v3"
)

module_version() { # folder module
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

ldflags_for() { # name version
  local name=$1 v=$2
  case "$name" in
    kube-apiserver|kube-scheduler|kube-controller-manager|kubelet|kube-proxy)
      local mm=${v#v}; local major=${mm%%.*}; local rest=${mm#*.}; local minor=${rest%%.*}
      local p=k8s.io/component-base/version
      echo "-s -w -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      ;;
    helm)
      echo "-s -w -X helm.sh/helm/v3/internal/version.version=$v"
      ;;
    workflow-controller)
      echo "-s -w -X github.com/argoproj/argo-workflows/v4.version=$v"
      ;;
    regal)
      echo "-s -w -X github.com/styrainc/regal/pkg/version.Version=$v"
      ;;
    containerd|containerd-shim-runc-v2|ctr)
      echo "-s -w -X github.com/containerd/containerd/v2/version.Version=$v"
      ;;
    kube-router)
      echo "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$v"
      ;;
    *) echo "-s -w" ;;
  esac
}

tags_for() { # name
  case "$1" in
    containerd|containerd-shim-runc-v2|ctr) echo "no_btrfs no_devmapper no_zfs" ;;
    *) echo "" ;;
  esac
}

list_only=false
real_node=${KUBIYA_REAL_NODE:-0}
args=()
for arg in "$@"; do
  case "$arg" in
    --list) list_only=true ;;
    --real-node) real_node=1 ;;
    *) args+=("$arg") ;;
  esac
done
if [[ ${#args[@]} -gt 0 ]]; then
  selected=()
  for want in "${args[@]}"; do
    hit=false
    for row in "${tools[@]}" "${optional[@]}" "${node_tools[@]}"; do
      [[ "${row%%|*}" == "$want" ]] && { selected+=("$row"); hit=true; }
    done
    $hit || { echo "tools: unknown tool $want" >&2; exit 2; }
  done
  tools=("${selected[@]}")
elif $list_only; then
  tools+=("${optional[@]}")
fi
[[ "$real_node" == 1 ]] && tools+=("${node_tools[@]}")

total_start=$(date +%s)
for row in "${tools[@]}"; do
  IFS='|' read -r name dir pkg mod <<<"$row"
  version=$(module_version "$dir" "$mod")
  flags=$(ldflags_for "$name" "$version")
  tags=$(tags_for "$name")
  key=$( { cat "$here/$dir/go.mod" "$here/$dir/go.sum"; find "$here/$dir" -maxdepth 1 -name '*.go' -print0 | sort -z | xargs -0 cat; echo "$goversion $flags${tags:+ tags=$tags}"; } | sha256sum | cut -c1-16)
  target="$cache/$name-$version-$key/$name"
  if $list_only; then
    printf '%-15s %-10s %s\n' "$name" "$version" "$target"
    continue
  fi
  if [[ ! -x "$target" ]]; then
    echo "tools: building $name $version (cold build, this takes a while)" >&2
    start=$(date +%s)
    tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
    ( cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath ${tags:+-tags "$tags"} -ldflags "$flags" -o "$tmp/$name" "$pkg" )
    mkdir -p "$(dirname "$target")"
    mv "$tmp/$name" "$target"
    rmdir "$tmp"
    echo "tools: built $name in $(( $(date +%s) - start ))s" >&2
  fi
  ln -sfn "$target" "$bin/$name"
done
$list_only || echo "tools: ready in $bin ($(( $(date +%s) - total_start ))s)" >&2
