/**
 * One table of image references, run against the TypeScript parser (test/unit/image-ref.test.ts)
 * and the Rego one through the compiled WASM (test/policies/image-ref.test.ts). The class: every
 * spelling of a reference the distribution/reference grammar accepts normalises to one canonical
 * form, and every spelling it refuses is refused by both. `canonical: null` means invalid.
 */
export interface RefCase {
  readonly ref: string;
  readonly canonical: string | null;
  readonly registry?: string;
  readonly repository?: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const SHA = `sha256:${'a'.repeat(64)}`;

export const REF_CASES: readonly RefCase[] = [
  // Docker Hub spellings of one official image
  {
    ref: 'alpine:3.19.1',
    canonical: 'docker.io/library/alpine:3.19.1',
    registry: 'docker.io',
    repository: 'library/alpine',
    tag: '3.19.1',
    digest: '',
  },
  { ref: 'library/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'docker.io/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'docker.io/library/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'index.docker.io/library/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'index.docker.io/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'INDEX.DOCKER.IO/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  // the other Docker Hub host names (REDTEAM finding 10): the same repositories
  {
    ref: 'registry-1.docker.io/library/alpine:3.19.1',
    canonical: 'docker.io/library/alpine:3.19.1',
    registry: 'docker.io',
    repository: 'library/alpine',
  },
  { ref: 'registry-1.docker.io/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'registry.hub.docker.com/library/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: 'registry.hub.docker.com/alpine:3.19.1', canonical: 'docker.io/library/alpine:3.19.1' },
  { ref: `Registry-1.Docker.IO/alpine@${SHA}`, canonical: `docker.io/library/alpine@${SHA}` },
  {
    ref: 'registry-1.docker.io/amazon/aws-cli:2',
    canonical: 'docker.io/amazon/aws-cli:2',
    repository: 'amazon/aws-cli',
  },
  { ref: 'hub.docker.com/alpine:3', canonical: 'hub.docker.com/alpine:3', registry: 'hub.docker.com' },
  // registry ports: the default :443 is refused (it is the same registry as no port, and a deny
  // entry must not be bypassed by it); other ports 1..65535 without leading zeros are registries of their own
  { ref: 'ghcr.io:443/acme/x:1', canonical: null },
  { ref: 'GHCR.IO:443/acme/x:1', canonical: null },
  { ref: 'docker.io:443/library/alpine:3', canonical: null },
  { ref: 'registry-1.docker.io:443/library/alpine:3', canonical: null },
  { ref: 'ghcr.io:0443/acme/x:1', canonical: null },
  { ref: 'ghcr.io:00443/acme/x:1', canonical: null },
  { ref: 'ghcr.io:0/acme/x:1', canonical: null },
  { ref: 'ghcr.io:65536/acme/x:1', canonical: null },
  { ref: 'ghcr.io:99999/acme/x:1', canonical: null },
  { ref: 'ghcr.io:8443/acme/x:1', canonical: 'ghcr.io:8443/acme/x:1', registry: 'ghcr.io:8443' },
  { ref: 'localhost:65535/x:1', canonical: 'localhost:65535/x:1', registry: 'localhost:65535' },
  { ref: 'localhost:1/x:1', canonical: 'localhost:1/x:1', registry: 'localhost:1' },
  { ref: 'alpine', canonical: 'docker.io/library/alpine:latest', tag: '', digest: '' },
  { ref: `alpine@${SHA}`, canonical: `docker.io/library/alpine@${SHA}`, tag: '', digest: SHA },
  { ref: `library/alpine@${SHA}`, canonical: `docker.io/library/alpine@${SHA}` },
  { ref: `alpine:3.19@${SHA}`, canonical: `docker.io/library/alpine:3.19@${SHA}`, tag: '3.19', digest: SHA },
  // Docker Hub organisations
  {
    ref: 'amazon/aws-cli:2.17.0',
    canonical: 'docker.io/amazon/aws-cli:2.17.0',
    registry: 'docker.io',
    repository: 'amazon/aws-cli',
  },
  { ref: 'alpine/git:2.45', canonical: 'docker.io/alpine/git:2.45', repository: 'alpine/git' },
  // other registries
  { ref: 'ghcr.io/acme/tool:1.0', canonical: 'ghcr.io/acme/tool:1.0', registry: 'ghcr.io', repository: 'acme/tool' },
  { ref: 'ghcr.io/acme-tools/x:1.0', canonical: 'ghcr.io/acme-tools/x:1.0', repository: 'acme-tools/x' },
  { ref: 'GHCR.io/acme/tool:1.0', canonical: 'ghcr.io/acme/tool:1.0', registry: 'ghcr.io' },
  { ref: 'ghcr.io/tool:1', canonical: 'ghcr.io/tool:1', repository: 'tool' },
  { ref: 'localhost/app:1', canonical: 'localhost/app:1', registry: 'localhost', repository: 'app' },
  {
    ref: 'localhost:5000/team/app:2',
    canonical: 'localhost:5000/team/app:2',
    registry: 'localhost:5000',
    repository: 'team/app',
  },
  { ref: 'Registry/app:1', canonical: null },
  { ref: 'LOCALHOST/app:1', canonical: 'localhost/app:1', registry: 'localhost' },
  { ref: 'quay.io/prometheus/node-exporter:v1.8.0', canonical: 'quay.io/prometheus/node-exporter:v1.8.0' },
  { ref: 'registry.k8s.io/pause:3.9', canonical: 'registry.k8s.io/pause:3.9' },
  { ref: 'a.b.c/d/e/f/g:1', canonical: 'a.b.c/d/e/f/g:1', repository: 'd/e/f/g' },
  {
    ref: 'docker.io.evil.com/x:1',
    canonical: 'docker.io.evil.com/x:1',
    registry: 'docker.io.evil.com',
    repository: 'x',
  },
  // separators inside components
  { ref: 'ghcr.io/a/b_c:1', canonical: 'ghcr.io/a/b_c:1' },
  { ref: 'ghcr.io/a/b__c:1', canonical: 'ghcr.io/a/b__c:1' },
  { ref: 'ghcr.io/a/b---c:1', canonical: 'ghcr.io/a/b---c:1' },
  { ref: 'ghcr.io/a/b.c:1', canonical: 'ghcr.io/a/b.c:1' },
  // tags
  { ref: `x:${'t'.repeat(128)}`, canonical: `docker.io/library/x:${'t'.repeat(128)}` },
  { ref: 'x:_tag', canonical: 'docker.io/library/x:_tag' },
  { ref: 'x:V1.2-RC_3', canonical: 'docker.io/library/x:V1.2-RC_3' },
  // invalid: upper-case repository, bad components, separators, tags, digests
  { ref: 'ghcr.io/Acme/tool:1', canonical: null },
  { ref: 'Alpine:3', canonical: null },
  { ref: 'docker.io/Library/alpine:3', canonical: null },
  { ref: 'ghcr.io/acme/../tool:1', canonical: null },
  { ref: 'ghcr.io/acme/./tool:1', canonical: null },
  { ref: 'ghcr.io/acme//tool:1', canonical: null },
  { ref: 'ghcr.io//tool:1', canonical: null },
  { ref: '/alpine:3', canonical: null },
  { ref: 'alpine/:3', canonical: null },
  { ref: 'ghcr.io/acme/tool-:1', canonical: null },
  { ref: 'ghcr.io/acme/_tool:1', canonical: null },
  { ref: 'ghcr.io/acme/tool___x:1', canonical: null },
  { ref: 'ghcr.io/acme/tool..x:1', canonical: null },
  { ref: 'ghcr.io/acme/tool._x:1', canonical: null },
  { ref: `x:${'t'.repeat(129)}`, canonical: null },
  { ref: 'x:-tag', canonical: null },
  { ref: 'x:.tag', canonical: null },
  { ref: 'x:', canonical: null },
  { ref: 'x:a:b', canonical: null },
  { ref: 'x@sha256:abc', canonical: null },
  { ref: `x@sha256:${'A'.repeat(64)}`, canonical: null },
  { ref: `x@sha256:${'a'.repeat(63)}`, canonical: null },
  { ref: `x@sha256:${'a'.repeat(65)}`, canonical: null },
  { ref: `x@md5:${'a'.repeat(32)}`, canonical: null },
  { ref: `x@${SHA}@${SHA}`, canonical: null },
  { ref: 'x@', canonical: null },
  { ref: `x@sha256:${'g'.repeat(64)}`, canonical: null },
  { ref: 'ghcr.io:/x:1', canonical: null },
  { ref: 'ghcr.io:abc/x:1', canonical: null },
  { ref: '-ghcr.io/x:1', canonical: null },
  { ref: '[::1]:5000/x:1', canonical: null },
  { ref: 'a'.repeat(64), canonical: null },
  { ref: `${'a'.repeat(256)}:1`, canonical: null },
  { ref: 'x y:1', canonical: null },
  { ref: '', canonical: null },
  { ref: 'ghcr.io/acme/tool:1\n', canonical: null },
  { ref: 'ghcr.io/acme/tööl:1', canonical: null },
];

/** Allow/deny entries and the references they do and do not cover (path boundaries, aliases, short forms). */
export interface EntryCase {
  readonly entry: string;
  readonly covers: readonly string[];
  readonly misses: readonly string[];
}

export const ENTRY_CASES: readonly EntryCase[] = [
  {
    entry: 'ghcr.io',
    covers: ['ghcr.io/acme/tool:1.0', 'ghcr.io/x:1', 'GHCR.IO/acme/tool:1'],
    misses: ['ghcr.io.evil.com/acme/tool:1', 'quay.io/acme/tool:1', 'acme/tool:1'],
  },
  {
    entry: 'ghcr.io/acme',
    covers: ['ghcr.io/acme/tool:1.0', 'ghcr.io/acme/team/tool:1', 'ghcr.io/acme:1'],
    misses: ['ghcr.io/acme-tools/x:1.0', 'ghcr.io/acmex/tool:1', 'ghcr.io/other/acme:1', 'docker.io/acme/tool:1'],
  },
  {
    entry: 'docker.io/library/alpine',
    covers: [
      'docker.io/alpine:3.19.1',
      'alpine:3.19.1',
      `library/alpine@sha256:${'a'.repeat(64)}`,
      'index.docker.io/library/alpine:3.19.1',
      'docker.io/library/alpine:3',
    ],
    misses: ['alpine/git:2', 'docker.io/library/alpine-extra:1', 'ghcr.io/library/alpine:3'],
  },
  { entry: 'alpine', covers: ['alpine:3', 'docker.io/library/alpine:3'], misses: ['alpine/git:2'] },
  { entry: 'docker.io/alpine', covers: ['alpine:3'], misses: ['alpine/git:2'] },
  {
    entry: 'docker.io/library',
    covers: ['alpine:3', 'python:3.11', 'index.docker.io/library/nginx:1'],
    misses: ['amazon/aws-cli:2', 'ghcr.io/library/x:1'],
  },
  {
    entry: 'docker.io',
    covers: ['alpine:3', 'amazon/aws-cli:2', 'index.docker.io/x/y:1'],
    misses: ['ghcr.io/x:1', 'docker.io.evil.com/x:1'],
  },
  { entry: 'index.docker.io', covers: ['alpine:3', 'docker.io/x/y:1'], misses: ['ghcr.io/x:1'] },
  {
    entry: 'registry-1.docker.io',
    covers: ['alpine:3', 'docker.io/x/y:1', 'registry.hub.docker.com/x/y:1'],
    misses: ['ghcr.io/x:1', 'hub.docker.com/x:1'],
  },
  {
    entry: 'registry.hub.docker.com/library',
    covers: ['alpine:3', 'registry-1.docker.io/library/nginx:1'],
    misses: ['amazon/aws-cli:2'],
  },
  // a deny entry for Docker Hub's alpine sees it through every Docker Hub host name (REDTEAM finding 10)
  {
    entry: 'docker.io/library/alpine',
    covers: [
      'registry-1.docker.io/library/alpine:3',
      'registry.hub.docker.com/alpine:3',
      `Registry-1.Docker.IO/alpine@${SHA}`,
    ],
    misses: ['hub.docker.com/alpine:3'],
  },
  {
    entry: 'registry-1.docker.io/alpine',
    covers: ['alpine:3', 'index.docker.io/library/alpine:3'],
    misses: ['alpine/git:2'],
  },
  { entry: 'ghcr.io:8443', covers: ['ghcr.io:8443/acme/x:1'], misses: ['ghcr.io/acme/x:1'] },
  { entry: 'localhost:5000', covers: ['localhost:5000/app:1'], misses: ['localhost/app:1', 'localhost:5001/app:1'] },
  {
    entry: 'amazon/aws-cli',
    covers: ['amazon/aws-cli:2.17.0', 'docker.io/amazon/aws-cli:2'],
    misses: ['amazon/aws-cli-v2:1', 'amazon/other:1'],
  },
];

/** Not entries: the settings schema refuses them, and the Rego never matches with them. */
export const BAD_ENTRIES: readonly string[] = [
  'ghcr.io:443',
  'ghcr.io:443/acme',
  'docker.io:443/library',
  'ghcr.io:0443/acme',
  'ghcr.io:65536',
  'ghcr.io/acme/*',
  'ghcr.io/acme/tool:1.0',
  `alpine@${SHA}`,
  'ghcr.io/Acme',
  'ghcr.io/acme/',
  '',
  'ghcr.io//acme',
  'https://ghcr.io/acme',
  'ghcr.io/acme/../x',
];
