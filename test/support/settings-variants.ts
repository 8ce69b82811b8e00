import { BAD_ENTRIES } from './image-refs.ts';

/**
 * The class (issue 14 §1): settings of the wrong type must never open anything. Every variant a
 * Helm --set-string, Argo CD forceString or a hand edit produces is refused with its path, before
 * a bundle is built or loaded. The same variants reach the compiled policy unchecked in
 * test/policies/settings.test.ts, where the Rego must still fail closed.
 */
export const WRONG_SETTINGS: readonly { name: string; settings: unknown; path: string }[] = [
  // string booleans (the reported example: allowAnyDestination "false" opened the internet)
  ...['false', 'true', '0', '1', '', 'no', 'FALSE'].map((v) => ({ name: `egress.allowAnyDestination ${JSON.stringify(v)}`, settings: { egress: { allowAnyDestination: v } }, path: 'kubiya.settings.egress.allowAnyDestination' })),
  { name: 'egress.allowWildcardHosts "true"', settings: { egress: { allowWildcardHosts: 'true' } }, path: 'kubiya.settings.egress.allowWildcardHosts' },
  { name: 'privilege.allowHostPath "false"', settings: { privilege: { allowHostPath: 'false' } }, path: 'kubiya.settings.privilege.allowHostPath' },
  { name: 'images.requireDigest "true"', settings: { images: { requireDigest: 'true' } }, path: 'kubiya.settings.images.requireDigest' },
  { name: 'a flag as a number', settings: { egress: { allowAnyDestination: 0 } }, path: 'kubiya.settings.egress.allowAnyDestination' },
  { name: 'a flag as null', settings: { privilege: { allowHostPath: null } }, path: 'kubiya.settings.privilege.allowHostPath' },
  // numbers as strings, quantities as numbers
  { name: 'resources.maxGpu "1"', settings: { resources: { maxGpu: '1' } }, path: 'kubiya.settings.resources.maxGpu' },
  { name: 'volumes.maxVolumes "8"', settings: { volumes: { maxVolumes: '8' } }, path: 'kubiya.settings.volumes.maxVolumes' },
  { name: 'resources.maxCpu 4 (a YAML number)', settings: { resources: { maxCpu: 4 } }, path: 'kubiya.settings.resources.maxCpu' },
  { name: 'resources.maxMemory "8 Gi"', settings: { resources: { maxMemory: '8 Gi' } }, path: 'kubiya.settings.resources.maxMemory' },
  { name: 'resources.maxGpu -1', settings: { resources: { maxGpu: -1 } }, path: 'kubiya.settings.resources.maxGpu' },
  { name: 'resources.maxGpu 1.5', settings: { resources: { maxGpu: 1.5 } }, path: 'kubiya.settings.resources.maxGpu' },
  { name: 'egress port "443"', settings: { egress: { allowed: [{ host: 'a.example.com', ports: ['443'] }] } }, path: 'kubiya.settings.egress.allowed.0' },
  // enforcement actions (the reported examples)
  ...['Deny', 'dryrun', 'deny ', 'WARN', 'block', 'dry-run', '', 'allow'].map((a) => ({ name: `enforcement action ${JSON.stringify(a)}`, settings: { enforcement: { IMAGE_TAG_NOT_PINNED: a } }, path: 'kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED' })),
  { name: 'enforcement action null', settings: { enforcement: { IMAGE_TAG_NOT_PINNED: null } }, path: 'kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED' },
  { name: 'enforcement key not a code', settings: { enforcement: { 'image tag': 'warn' } }, path: 'kubiya.settings.enforcement.image tag' },
  // arrays where objects are expected, objects where arrays are, null
  { name: 'enforcement as an array', settings: { enforcement: ['IMAGE_TAG_NOT_PINNED'] }, path: 'kubiya.settings.enforcement' },
  { name: 'images as an array', settings: { images: ['docker.io'] }, path: 'kubiya.settings.images' },
  { name: 'images null', settings: { images: null }, path: 'kubiya.settings.images' },
  { name: 'allowedRegistries a string', settings: { images: { allowedRegistries: 'docker.io' } }, path: 'kubiya.settings.images.allowedRegistries' },
  { name: 'deniedImages a string', settings: { images: { deniedImages: 'docker.io/library/evil' } }, path: 'kubiya.settings.images.deniedImages' },
  { name: 'requireRequests a string', settings: { resources: { requireRequests: 'cpu' } }, path: 'kubiya.settings.resources.requireRequests' },
  { name: 'requireLimits an unknown resource', settings: { resources: { requireLimits: ['gpu'] } }, path: 'kubiya.settings.resources.requireLimits.0' },
  { name: 'settings an array', settings: [], path: 'kubiya.settings' },
  { name: 'settings null', settings: null, path: 'kubiya.settings' },
  // unknown keys (typos that silently did nothing)
  { name: 'unknown top-level key', settings: { image: {} }, path: 'kubiya.settings' },
  { name: 'unknown key in a section', settings: { egress: { allowAnyDestinations: false } }, path: 'kubiya.settings.egress' },
  { name: 'unknown key in an egress entry', settings: { egress: { allowed: [{ host: 'a.example.com', ports: [443], port: 80 }] } }, path: 'kubiya.settings.egress.allowed.0' },
  // image entries that are not in the grammar
  ...BAD_ENTRIES.map((e) => ({ name: `allowedRegistries entry ${JSON.stringify(e)}`, settings: { images: { allowedRegistries: [e] } }, path: 'kubiya.settings.images.allowedRegistries.0' })),
  { name: 'deny entry with a tag', settings: { images: { deniedImages: ['evil:1.0'] } }, path: 'kubiya.settings.images.deniedImages.0' },
  // credential patterns
  { name: 'credential pattern that is not a regex', settings: { secrets: { credentials: { values: [{ id: 'x', pattern: '(' }] } } }, path: 'kubiya.settings.secrets.credentials.values.0.pattern' },
  { name: 'credential pattern with look-ahead (not RE2)', settings: { secrets: { credentials: { values: [{ id: 'x', pattern: 'a(?=b)' }] } } }, path: 'kubiya.settings.secrets.credentials.values.0.pattern' },
  { name: 'credential pattern with \\A (RE2 only, not JavaScript)', settings: { secrets: { credentials: { values: [{ id: 'x', pattern: '\\A[a-z]+://[^:]+:[^@]+@' }] } } }, path: 'kubiya.settings.secrets.credentials.values.0.pattern' },
  { name: 'credential pattern as a bare string', settings: { secrets: { credentials: { envNames: ['PASSWORD'] } } }, path: 'kubiya.settings.secrets.credentials.envNames.0' },
];
