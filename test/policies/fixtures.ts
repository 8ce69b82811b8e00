import type { V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import type { Step } from '../../src/validate/schema.ts';
import { AWS_KEY_ID, GITHUB_TOKEN, JWT, PEM, SLACK } from '../support/credentials.ts';
import { SHA } from '../support/image-refs.ts';

/**
 * Named cases for the compiled WASM policy with the default data (policies/data.json): a step (and
 * optionally workflow volumes, or a change to the pod built from it) and the violation codes the
 * decision must list. `allow` follows: no deny-action code means allowed.
 */
export interface Fixture {
  readonly name: string;
  readonly step: Step;
  readonly volumes?: { name: string; size: string }[];
  readonly pod?: (pod: V1Pod) => void;
  readonly codes: readonly string[];
}

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const s = (over: Partial<Step> = {}): Step => ({ name: 's', image: 'python:3.11-slim', resources: R, ...over });
const main = (pod: V1Pod) => pod.spec!.containers[0]!;
const sc = (patch: Record<string, unknown>) => (pod: V1Pod) => {
  main(pod).securityContext = { ...main(pod).securityContext, ...patch };
};
/** Resources on the pod's sidecar/init containers, as the pod builder sets them from the step (issue 14 §3). */
const BOUNDED = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const bounded = (pod: V1Pod): void => {
  for (const c of pod.spec!.initContainers ?? []) c.resources = structuredClone(BOUNDED);
};
const sidecarResources =
  (r: V1ResourceRequirements, sidecarOnly = false) =>
  (pod: V1Pod): void => {
    for (const c of pod.spec!.initContainers ?? [])
      if (!sidecarOnly || c.restartPolicy === 'Always') c.resources = structuredClone(r);
    if (sidecarOnly && (pod.spec!.initContainers ?? []).length === 0)
      pod.spec!.initContainers = [
        { name: 'db', image: 'postgres:15', restartPolicy: 'Always', resources: structuredClone(r) },
      ];
  };
const egress = (...e: NonNullable<Step['egress']>) => s({ egress: e });
const res = (r: NonNullable<Step['resources']>) => s({ resources: r });

export const FIXTURES: readonly Fixture[] = [
  // images
  { name: 'pinned official image', step: s(), codes: [] },
  { name: 'digest-pinned ghcr image', step: s({ image: `ghcr.io/org/tool@${SHA}` }), codes: [] },
  { name: 'quay image with a tag', step: s({ image: 'quay.io/prometheus/node-exporter:v1.8.0' }), codes: [] },
  { name: 'registry.k8s.io pause', step: s({ image: 'registry.k8s.io/pause:3.9' }), codes: [] },
  { name: 'docker hub org image', step: s({ image: 'amazon/aws-cli:2.17.0' }), codes: [] },
  { name: ':latest', step: s({ image: 'aquasec/trivy:latest' }), codes: ['IMAGE_TAG_NOT_PINNED'] },
  { name: 'untagged', step: s({ image: 'ghcr.io/org/tool' }), codes: ['IMAGE_TAG_NOT_PINNED'] },
  { name: 'look-alike registry', step: s({ image: 'docker.io.evil.com/x:1' }), codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  { name: 'registry with a port', step: s({ image: 'localhost:5000/x:1' }), codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  { name: 'localhost registry', step: s({ image: 'localhost/x:1' }), codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  {
    name: 'registry not in the list',
    step: s({ image: 'gcr.io/distroless/static:nonroot' }),
    codes: ['IMAGE_REGISTRY_NOT_ALLOWED'],
  },
  {
    name: 'unknown registry and latest',
    step: s({ image: 'evil.example.com/miner:latest' }),
    codes: ['IMAGE_REGISTRY_NOT_ALLOWED', 'IMAGE_TAG_NOT_PINNED'],
  },
  {
    name: 'sidecar from an unknown registry',
    step: s({ sidecars: [{ name: 'db', image: 'evil.example.com/pg:15' }] }),
    pod: bounded,
    codes: ['IMAGE_REGISTRY_NOT_ALLOWED'],
  },
  {
    name: 'untagged init container',
    step: s({ initContainers: [{ name: 'dl', image: 'amazon/aws-cli' }] }),
    pod: bounded,
    codes: ['IMAGE_TAG_NOT_PINNED'],
  },
  // image references by the distribution grammar (issue 14 §2), in every container kind
  { name: 'upper-case repository', step: s({ image: 'ghcr.io/Acme/tool:1.0' }), codes: ['IMAGE_REFERENCE_INVALID'] },
  { name: '".." path component', step: s({ image: 'ghcr.io/acme/../tool:1.0' }), codes: ['IMAGE_REFERENCE_INVALID'] },
  { name: 'empty path component', step: s({ image: 'ghcr.io/acme//tool:1.0' }), codes: ['IMAGE_REFERENCE_INVALID'] },
  { name: 'malformed digest', step: s({ image: 'ghcr.io/acme/tool@sha256:abc' }), codes: ['IMAGE_REFERENCE_INVALID'] },
  {
    name: 'upper-case digest hex',
    step: s({ image: `ghcr.io/acme/tool@sha256:${'A'.repeat(64)}` }),
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  {
    name: 'tag of 129 characters',
    step: s({ image: `ghcr.io/acme/tool:${'v'.repeat(129)}` }),
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  { name: 'tag of 128 characters', step: s({ image: `ghcr.io/acme/tool:${'v'.repeat(128)}` }), codes: [] },
  { name: 'bad separator', step: s({ image: 'ghcr.io/acme/tool-:1.0' }), codes: ['IMAGE_REFERENCE_INVALID'] },
  {
    name: 'invalid sidecar image',
    step: s({ sidecars: [{ name: 'db', image: 'Postgres:15' }] }),
    pod: bounded,
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  {
    name: 'invalid init container image',
    step: s({ initContainers: [{ name: 'dl', image: 'amazon/aws-cli@sha256:0' }] }),
    pod: bounded,
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  {
    name: 'index.docker.io alias of an allowed registry',
    step: s({ image: 'index.docker.io/library/python:3.11' }),
    codes: [],
  },
  { name: 'digest-only official image', step: s({ image: `library/python@${SHA}` }), codes: [] },
  {
    name: 'registry-1.docker.io alias of an allowed registry',
    step: s({ image: 'registry-1.docker.io/library/python:3.11' }),
    codes: [],
  },
  {
    name: 'registry.hub.docker.com alias of an allowed registry',
    step: s({ image: 'registry.hub.docker.com/amazon/aws-cli:2.17.0' }),
    codes: [],
  },
  {
    name: 'default port :443 on an allowed registry',
    step: s({ image: 'ghcr.io:443/org/tool:1.0' }),
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  {
    name: 'default port :443 on a sidecar',
    step: s({ sidecars: [{ name: 'db', image: 'docker.io:443/library/postgres:15' }] }),
    pod: bounded,
    codes: ['IMAGE_REFERENCE_INVALID'],
  },
  // resources
  {
    name: 'no resources at all',
    step: s({ resources: undefined }),
    codes: ['RESOURCES_REQUEST_MISSING', 'RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'requests without a memory limit',
    step: res({ requests: { cpu: '1', memory: '1Gi' } }),
    codes: ['RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'memory request missing',
    step: res({ requests: { cpu: '1' }, limits: { memory: '1Gi' } }),
    codes: ['RESOURCES_REQUEST_MISSING'],
  },
  {
    name: 'cpu request missing',
    step: res({ requests: { memory: '1Gi' }, limits: { memory: '1Gi' } }),
    codes: ['RESOURCES_REQUEST_MISSING'],
  },
  {
    name: 'cpu request over the cap',
    step: res({ requests: { cpu: '5', memory: '1Gi' }, limits: { memory: '1Gi' } }),
    codes: ['RESOURCES_CPU_OVER_CAP'],
  },
  {
    name: 'cpu limit at the cap in millicores',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '4000m', memory: '1Gi' } }),
    codes: [],
  },
  {
    name: 'cpu limit over the cap in millicores',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '4500m', memory: '1Gi' } }),
    codes: ['RESOURCES_CPU_OVER_CAP'],
  },
  {
    name: 'memory limit over the cap',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '9Gi' } }),
    codes: ['RESOURCES_MEMORY_OVER_CAP'],
  },
  {
    name: 'memory limit at the cap',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '8Gi' } }),
    codes: [],
  },
  {
    name: 'memory limit at the cap in Mi',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '8192Mi' } }),
    codes: [],
  },
  {
    name: 'decimal memory just over the cap',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '9G' } }),
    codes: ['RESOURCES_MEMORY_OVER_CAP'],
  },
  {
    name: 'ephemeral storage over the cap',
    step: res({ requests: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '21Gi' }, limits: { memory: '1Gi' } }),
    codes: ['RESOURCES_EPHEMERAL_STORAGE_OVER_CAP'],
  },
  { name: 'one GPU', step: res({ ...R, gpu: 1 }), codes: [] },
  { name: 'two GPUs', step: res({ ...R, gpu: 2 }), codes: ['RESOURCES_GPU_OVER_CAP'] },
  // every container is bounded, and zero is not a limit (issue 14 §3)
  {
    name: 'memory limit "0"',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '0' } }),
    codes: ['RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'memory limit "0Mi"',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '0Mi' } }),
    codes: ['RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'cpu request "0"',
    step: res({ requests: { cpu: '0', memory: '1Gi' }, limits: { memory: '1Gi' } }),
    codes: ['RESOURCES_REQUEST_MISSING'],
  },
  {
    name: "sidecar without resources (the seed's postgres)",
    step: s({ sidecars: [{ name: 'db', image: 'postgres:15' }] }),
    codes: ['RESOURCES_REQUEST_MISSING', 'RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'init container without resources',
    step: s({ initContainers: [{ name: 'dl', image: 'amazon/aws-cli:2.17.0' }] }),
    codes: ['RESOURCES_REQUEST_MISSING', 'RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'bounded sidecar and init container',
    step: s({
      sidecars: [{ name: 'db', image: 'postgres:15' }],
      initContainers: [{ name: 'dl', image: 'amazon/aws-cli:2.17.0' }],
    }),
    pod: bounded,
    codes: [],
  },
  {
    name: 'sidecar with a zero memory limit',
    step: s({ sidecars: [{ name: 'db', image: 'postgres:15' }] }),
    pod: sidecarResources({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '0' } }),
    codes: ['RESOURCES_LIMIT_MISSING'],
  },
  {
    name: 'sidecar over the memory cap',
    step: s({ sidecars: [{ name: 'db', image: 'postgres:15' }] }),
    pod: sidecarResources({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '9Gi' } }),
    codes: ['RESOURCES_MEMORY_OVER_CAP'],
  },
  {
    name: 'main and sidecar within their caps, over it together',
    step: res({ requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '5Gi' } }),
    pod: sidecarResources({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '5Gi' } }, true),
    codes: ['RESOURCES_MEMORY_OVER_CAP'],
  },
  // egress
  { name: 'GitHub API on 443', step: egress({ host: 'api.github.com', ports: [443] }), codes: [] },
  { name: 'GitHub API on 80', step: egress({ host: 'api.github.com', ports: [80] }), codes: ['EGRESS_NOT_ALLOWED'] },
  { name: 'host in a different case', step: egress({ host: 'API.GITHUB.COM', ports: [443] }), codes: [] },
  { name: 'S3 through a data glob', step: egress({ host: 's3.amazonaws.com', ports: [443] }), codes: [] },
  {
    name: 'glob does not cross dots',
    step: egress({ host: 'a.b.amazonaws.com', ports: [443] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  {
    name: 'look-alike host',
    step: egress({ host: 'amazonaws.com.evil.io', ports: [443] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  { name: 'unknown host', step: egress({ host: 'pastebin.com', ports: [443] }), codes: ['EGRESS_NOT_ALLOWED'] },
  { name: 'anywhere (IPv4)', step: egress({ cidr: '0.0.0.0/0', ports: [443] }), codes: ['EGRESS_ANY_DESTINATION'] },
  { name: 'anywhere (IPv6)', step: egress({ cidr: '::/0', ports: [443] }), codes: ['EGRESS_ANY_DESTINATION'] },
  {
    name: 'wildcard host asked',
    step: egress({ host: '*.github.com', ports: [443] }),
    codes: ['EGRESS_WILDCARD_HOST', 'EGRESS_NOT_ALLOWED'],
  },
  {
    name: 'private CIDR not in data',
    step: egress({ cidr: '10.0.0.0/8', ports: [5432] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  { name: 'anywhere spelled 0::/0', step: egress({ cidr: '0::/0', ports: [443] }), codes: ['EGRESS_NOT_ALLOWED'] },
  {
    name: 'anywhere spelled 0.0.0.0/00',
    step: egress({ cidr: '0.0.0.0/00', ports: [443] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  {
    name: 'a host that is not a DNS name under a data glob',
    step: egress({ host: 'a_b.amazonaws.com', ports: [443] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  {
    name: 'a wildcard host under a data glob',
    step: egress({ host: '*.amazonaws.com', ports: [443] }),
    codes: ['EGRESS_WILDCARD_HOST'],
  },
  {
    name: 'one good, one bad destination',
    step: egress({ host: 'api.github.com', ports: [443] }, { host: 'pastebin.com', ports: [443] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  {
    name: 'allowed host, one port not allowed',
    step: egress({ host: 'api.github.com', ports: [443, 22] }),
    codes: ['EGRESS_NOT_ALLOWED'],
  },
  // secrets
  {
    name: 'allowed secret by reference',
    step: s({ env: { KEY: { secretRef: { secret: 'aws-credentials', key: 'k' } } } }),
    codes: [],
  },
  { name: 'plain env values are not secrets', step: s({ env: { MODE: 'fast' } }), codes: [] },
  {
    name: 'secret not allowed',
    step: s({ env: { DB: { secretRef: { secret: 'prod-db', key: 'password' } } } }),
    codes: ['SECRET_NOT_ALLOWED'],
  },
  { name: 'envFrom secret not allowed', step: s({ envFrom: [{ secret: 'prod-db' }] }), codes: ['SECRET_NOT_ALLOWED'] },
  { name: 'envFrom allowed secret', step: s({ envFrom: [{ secret: 'aws-credentials' }] }), codes: [] },
  {
    name: 'sidecar reads a secret not allowed',
    step: s({
      sidecars: [{ name: 'db', image: 'postgres:15', env: { P: { secretRef: { secret: 'root-pw', key: 'p' } } } }],
    }),
    pod: bounded,
    codes: ['SECRET_NOT_ALLOWED'],
  },
  {
    name: 'init container reads a secret not allowed',
    step: s({
      initContainers: [
        { name: 'dl', image: 'amazon/aws-cli:2.17.0', env: { T: { secretRef: { secret: 'tokens', key: 't' } } } },
      ],
    }),
    pod: bounded,
    codes: ['SECRET_NOT_ALLOWED'],
  },
  // credentials written as literals (issue 14 §6)
  {
    name: 'password in a URL in args',
    step: s({ args: ['--db', 'postgres://admin:hunter2@db:5432/app'] }),
    codes: ['SECRET_LITERAL'],
  },
  {
    name: 'Authorization: Bearer in command',
    step: s({ command: ['curl', '-H', 'Authorization: Bearer abcdef123456', 'https://api.github.com'] }),
    codes: ['SECRET_LITERAL'],
  },
  {
    name: 'Authorization from an env reference',
    step: s({ command: ['sh', '-c', 'curl -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com'] }),
    codes: [],
  },
  { name: 'literal password env', step: s({ env: { DB_PASSWORD: 'hunter2' } }), codes: ['SECRET_LITERAL'] },
  { name: 'literal token env', step: s({ env: { GITHUB_TOKEN: 'x' } }), codes: ['SECRET_LITERAL'] },
  { name: 'AWS key id in a plain env name', step: s({ env: { KEY_ID: AWS_KEY_ID } }), codes: ['SECRET_LITERAL'] },
  // The secrets prefilter folds as RE2's (?i) does: a long s (U+017F) matches s, so it does not hide a keyword.
  {
    name: 'password assignment spelled with a long s (U+017F)',
    step: s({ args: ['pa\u017f\u017fword=hunter2'] }),
    codes: ['SECRET_LITERAL'],
  },
  { name: 'GitHub token in args', step: s({ args: [GITHUB_TOKEN] }), codes: ['SECRET_LITERAL'] },
  { name: 'JWT in args', step: s({ args: ['--token', JWT] }), codes: ['SECRET_LITERAL'] },
  { name: 'PEM private key in env', step: s({ env: { TLS: PEM } }), codes: ['SECRET_LITERAL'] },
  { name: 'Slack token in env', step: s({ env: { HOOK: SLACK } }), codes: ['SECRET_LITERAL'] },
  {
    name: "literal password in a sidecar (the seed's postgres)",
    step: s({ sidecars: [{ name: 'db', image: 'postgres:15', env: { POSTGRES_PASSWORD: 'temp' } }] }),
    pod: bounded,
    codes: ['SECRET_LITERAL'],
  },
  {
    name: 'literal credential in an init container',
    step: s({ initContainers: [{ name: 'dl', image: 'amazon/aws-cli:2.17.0', args: ['https://u:p@example.com/x'] }] }),
    pod: bounded,
    codes: ['SECRET_LITERAL'],
  },
  {
    name: 'password by reference is fine',
    step: s({ env: { DB_PASSWORD: { secretRef: { secret: 'aws-credentials', key: 'p' } } } }),
    codes: [],
  },
  // volumes
  { name: 'a 5Gi workflow volume', step: s(), volumes: [{ name: 'data', size: '5Gi' }], codes: [] },
  { name: 'a volume at the size cap', step: s(), volumes: [{ name: 'data', size: '50Gi' }], codes: [] },
  {
    name: 'a volume over the size cap',
    step: s(),
    volumes: [{ name: 'data', size: '60Gi' }],
    codes: ['VOLUME_TOO_LARGE'],
  },
  {
    name: 'too many volumes',
    step: s(),
    volumes: Array.from({ length: 9 }, (_, i) => ({ name: `v${i}`, size: '1Gi' })),
    codes: ['VOLUME_COUNT_EXCEEDED'],
  },
  {
    name: 'hostPath volume in the pod',
    step: s(),
    pod: (p) => p.spec!.volumes!.push({ name: 'h', hostPath: { path: '/' } }),
    codes: ['HOST_PATH_VOLUME', 'VOLUME_TYPE_NOT_ALLOWED'],
  },
  {
    name: 'nfs volume in the pod',
    step: s(),
    pod: (p) => p.spec!.volumes!.push({ name: 'n', nfs: { server: 'nfs', path: '/' } }),
    codes: ['VOLUME_TYPE_NOT_ALLOWED'],
  },
  // privilege (on the pod as built)
  { name: 'the built pod asks for nothing', step: s(), codes: [] },
  { name: 'privileged container', step: s(), pod: sc({ privileged: true }), codes: ['PRIVILEGED_CONTAINER'] },
  {
    name: 'privilege escalation',
    step: s(),
    pod: sc({ allowPrivilegeEscalation: true }),
    codes: ['PRIVILEGE_ESCALATION'],
  },
  {
    name: 'host network',
    step: s(),
    pod: (p) => {
      p.spec!.hostNetwork = true;
    },
    codes: ['HOST_NAMESPACE'],
  },
  {
    name: 'host PID',
    step: s(),
    pod: (p) => {
      p.spec!.hostPID = true;
    },
    codes: ['HOST_NAMESPACE'],
  },
  {
    name: 'host port',
    step: s(),
    pod: (p) => {
      main(p).ports = [{ containerPort: 80, hostPort: 80 }];
    },
    codes: ['HOST_PORT'],
  },
  {
    name: 'SYS_ADMIN capability',
    step: s(),
    pod: sc({ capabilities: { add: ['SYS_ADMIN'] } }),
    codes: ['CAPABILITY_NOT_ALLOWED'],
  },
  {
    name: 'NET_BIND_SERVICE capability',
    step: s(),
    pod: sc({ capabilities: { add: ['NET_BIND_SERVICE'] } }),
    codes: [],
  },
  { name: 'run as root', step: s(), pod: sc({ runAsUser: 0 }), codes: ['RUN_AS_ROOT'] },
  {
    name: 'runAsNonRoot false on the pod',
    step: s(),
    pod: (p) => {
      p.spec!.securityContext = { runAsNonRoot: false };
    },
    codes: ['RUN_AS_ROOT'],
  },
  { name: 'unmasked /proc', step: s(), pod: sc({ procMount: 'Unmasked' }), codes: ['PROC_MOUNT_UNMASKED'] },
  {
    name: 'unsafe sysctl',
    step: s(),
    pod: (p) => {
      p.spec!.securityContext = { sysctls: [{ name: 'kernel.msgmax', value: '1' }] };
    },
    codes: ['UNSAFE_SYSCTL'],
  },
  {
    name: 'safe sysctl',
    step: s(),
    pod: (p) => {
      p.spec!.securityContext = { sysctls: [{ name: 'net.ipv4.ping_group_range', value: '0 1' }] };
    },
    codes: [],
  },
  // across packages
  {
    name: 'everything wrong at once',
    step: {
      name: 's',
      image: 'evil.example.com/x:latest',
      envFrom: [{ secret: 'prod-db' }],
      egress: [{ cidr: '0.0.0.0/0', ports: [443] }],
    },
    volumes: [{ name: 'big', size: '1Ti' }],
    pod: sc({ privileged: true }),
    codes: [
      'IMAGE_REGISTRY_NOT_ALLOWED',
      'IMAGE_TAG_NOT_PINNED',
      'RESOURCES_REQUEST_MISSING',
      'RESOURCES_LIMIT_MISSING',
      'SECRET_NOT_ALLOWED',
      'EGRESS_ANY_DESTINATION',
      'VOLUME_TOO_LARGE',
      'PRIVILEGED_CONTAINER',
    ],
  },
];
