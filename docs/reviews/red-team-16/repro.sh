#!/usr/bin/env bash
# Red team 16 (3 December): reproductions of findings 5, 6 and 8 (no test: a hung serve needs
# SIGKILL, a 300 MiB sparse file, and a rejection only the API server makes). Run from the repo
# root. Every process it starts is bounded and killed by PID; the work directory is removed.
set -u
W=$(mktemp -d /tmp/kubiya-rt16-XXXXXX)
trap 'rm -rf "$W"' EXIT
CLI=bin/kubiya-runner.js

echo "== finding 5: a kubeconfig whose certificate-authority is a FIFO: serve waits in open(2), SIGTERM does not end it"
mkfifo "$W/ca.fifo"
node -e '
const { generateKeyPairSync } = require("crypto"); const fs = require("fs"); const w = process.argv[1];
fs.writeFileSync(w + "/sign.pem", generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }));
fs.writeFileSync(w + "/jwks.json", JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k" }] }));
fs.writeFileSync(w + "/kubeconfig", `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority: ${w}/ca.fifo}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`);
' "$W"
node "$CLI" policy build --out "$W/b.tgz" >/dev/null
cat >"$W/runner.yaml" <<YAML
runner: {name: r}
controlPlane: {issuer: x, jwksFile: $W/jwks.json}
policy: {bundle: $W/b.tgz}
audit: {dir: $W/audit, checkpoint: {signingKeyFile: $W/sign.pem, interval: 1}}
kubernetes: {kubeconfig: $W/kubeconfig}
server: {port: 0, host: 127.0.0.1}
YAML
node "$CLI" serve --config "$W/runner.yaml" >"$W/serve.out" 2>&1 &
P=$!
sleep 12
ps -o pid,stat,wchan:20,etimes,args -p "$P"
kill -TERM "$P"
sleep 3
if kill -0 "$P" 2>/dev/null; then
  echo "still running 3 s after SIGTERM:"; ps -o pid,stat,wchan:20,args -p "$P"
  kill -KILL "$P"
else
  echo "ended by SIGTERM (held)"
fi
wait "$P" 2>/dev/null

echo "== finding 6: audit verify reads checkpoints.jsonl whole, with no bound"
node --input-type=module -e '
const { FileAuditLog } = await import(process.cwd() + "/src/adapters/audit-file.ts");
const { auditEntry } = await import(process.cwd() + "/test/support/audit-entries.ts");
const log = await FileAuditLog.open(process.argv[1]); await log.append(auditEntry(0)); await log.close();
' "$W/aud"
truncate -s 300M "$W/aud/checkpoints.jsonl"
/usr/bin/time -f "maxrss=%MkB elapsed=%es" timeout 60 node "$CLI" audit verify "$W/aud" 2>&1 | tail -2

echo "== finding 8: the chart checks ipBlock CIDRs only under extraEgress[].to and extraIngress[].from; the schema lets the other side through"
cat >"$W/v.yaml" <<YAML
networkPolicy:
  extraEgress:
    - from: [{ipBlock: {cidr: "10.0.0.1/8", except: ["192.168.0.0/16"]}}]
      ports: [{port: 443}]
  extraIngress:
    - to: [{ipBlock: {cidr: "10.0.0.0/8", except: ["10.0.0.0/8"]}}]
      from: [{podSelector: {}}]
YAML
.tools/bin/helm template x charts/kubiya-runner --namespace kubiya --kube-version 1.37.2 -f "$W/v.yaml" \
  -s templates/networkpolicy.yaml >"$W/np.yaml"; echo "helm rc=$?"
grep -nE "cidr: 10\.0\.0\.1/8|- 10\.0\.0\.0/8" "$W/np.yaml"
