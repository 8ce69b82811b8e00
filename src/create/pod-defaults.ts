/**
 * A pod spec as the API server defaults it on create: the closed list of what the API server may
 * add to a pod without anyone deciding it. Source: Kubernetes pkg/apis/core/v1/defaults.go
 * (SetDefaults_Pod, SetDefaults_PodSpec, SetDefaults_Container, SetDefaults_Probe, ..._Volume and
 * the volume sources, SetDefaults_HTTPGetAction, SetDefaults_ObjectFieldSelector,
 * SetDefaults_ServiceAccountTokenProjection, SetDefaults_PersistentVolumeClaimSpec) and
 * zz_generated.defaults.go (ContainerPort.protocol "TCP"), v1.37; and conversion.go's copy of
 * serviceAccountName into its deprecated alias serviceAccount (dropped when it is that copy). Each default is applied only where
 * the field is absent, so a value a webhook set stays as set.
 *
 * admitted.ts applies these to both the decided pod and the admitted one before it compares them:
 * a field is accepted when it is the decided value, or absent from the decision and equal to its
 * API server default. Pure: returns a defaulted deep copy.
 */
import { put } from './pod-canonical.ts';
import { isRecord } from './pod-model.ts';

type Obj = Record<string, unknown>;

/** Pod-level defaults (SetDefaults_PodSpec, SetDefaults_Pod). */
const POD_SPEC: Readonly<Obj> = {
  dnsPolicy: 'ClusterFirst',
  restartPolicy: 'Always',
  schedulerName: 'default-scheduler',
  terminationGracePeriodSeconds: 30,
  enableServiceLinks: true,
};

/** Probe timing (SetDefaults_Probe). */
const PROBE: Readonly<Obj> = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };

/** The file mode of secret, configMap, downwardAPI and projected volumes (0644). */
const DEFAULT_MODE = 420;

/** Volume source defaults by source key (SetDefaults_*VolumeSource). */
const VOLUME_SOURCES: Readonly<Record<string, Readonly<Obj>>> = {
  secret: { defaultMode: DEFAULT_MODE },
  configMap: { defaultMode: DEFAULT_MODE },
  downwardAPI: { defaultMode: DEFAULT_MODE },
  projected: { defaultMode: DEFAULT_MODE },
  hostPath: { type: '' },
  iscsi: { iscsiInterface: 'default' },
  rbd: { pool: 'rbd', user: 'admin', keyring: '/etc/ceph/keyring' },
  azureDisk: { cachingMode: 'ReadWrite', fsType: 'ext4', readOnly: false, kind: 'Shared' },
  scaleIO: { storageMode: 'ThinProvisioned', fsType: 'xfs' },
};

/** The source keys of a volume (every member but its name). */
const sourcesOf = (v: Obj): string[] => Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined);

/** `defaults` copied into `o` where `o` has no value (undefined or null) for them. */
function fill(o: unknown, defaults: Readonly<Obj>): void {
  if (!isRecord(o)) return;
  for (const [k, v] of Object.entries(defaults)) if (o[k] === undefined || o[k] === null) o[k] = v;
}

/** The records of a list member (a member that is not a list, or items that are not objects, skipped). */
const records = (list: unknown): Obj[] => (Array.isArray(list) ? list.filter(isRecord) : []);

/**
 * `IfNotPresent`, or `Always` for an image whose tag is `latest` or that names neither a tag nor a
 * digest (SetDefaults_Container; parsers.ParseImageName: no tag and no digest means `latest`).
 */
export function defaultPullPolicy(image: unknown): string {
  // An image that does not parse (none, "") has no tag to ParseImageName: IfNotPresent.
  if (typeof image !== 'string' || image === '') return 'IfNotPresent';
  const at = image.indexOf('@');
  const name = at === -1 ? image : image.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const tag = colon === -1 ? '' : name.slice(colon + 1);
  return tag === 'latest' || (tag === '' && at === -1) ? 'Always' : 'IfNotPresent';
}

/** A probe's or lifecycle hook's handler: an HTTP GET's path and scheme (SetDefaults_HTTPGetAction). */
function handler(h: unknown): void {
  if (isRecord(h)) fill(h.httpGet, { path: '/', scheme: 'HTTP' });
}

/** SetDefaults_Container and what zz_generated.defaults.go applies inside a container. */
function container(c: Obj, requestsFromLimits: boolean): void {
  fill(c, {
    imagePullPolicy: defaultPullPolicy(c.image),
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  for (const p of records(c.ports)) fill(p, { protocol: 'TCP' });
  for (const e of records(c.env)) if (isRecord(e.valueFrom)) fill(e.valueFrom.fieldRef, { apiVersion: 'v1' });
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    fill(probe, PROBE);
    handler(probe);
  }
  if (isRecord(c.lifecycle)) {
    handler(c.lifecycle.postStart);
    handler(c.lifecycle.preStop);
  }
  // SetDefaults_Pod: requests default to limits (containers and init containers, not ephemeral ones).
  const resources = c.resources;
  if (requestsFromLimits && isRecord(resources) && isRecord(resources.limits)) {
    const requests = isRecord(resources.requests) ? resources.requests : {};
    resources.requests = { ...resources.limits, ...requests };
  }
}

/** SetDefaults_Volume and the volume sources' defaulters. */
function volume(v: Obj): void {
  if (sourcesOf(v).length === 0) v.emptyDir = {};
  for (const [source, defaults] of Object.entries(VOLUME_SOURCES)) fill(v[source], defaults);
  if (isRecord(v.image)) fill(v.image, { pullPolicy: defaultPullPolicy(v.image.reference) });
  if (isRecord(v.downwardAPI)) for (const i of records(v.downwardAPI.items)) fill(i.fieldRef, { apiVersion: 'v1' });
  if (isRecord(v.projected))
    for (const s of records(v.projected.sources)) {
      fill(s.serviceAccountToken, { expirationSeconds: 3600 });
      if (isRecord(s.downwardAPI)) for (const i of records(s.downwardAPI.items)) fill(i.fieldRef, { apiVersion: 'v1' });
    }
  if (isRecord(v.ephemeral) && isRecord(v.ephemeral.volumeClaimTemplate))
    fill(v.ephemeral.volumeClaimTemplate.spec, { volumeMode: 'Filesystem' });
}

/**
 * A deep copy of JSON data (own enumerable members; a Date or any other value is shared, never
 * written here). Not structuredClone: several times slower on the small objects of a pod spec, and
 * this runs twice per step pod created.
 */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (!isRecord(v)) return v;
  const out: Obj = {};
  for (const k in v) if (Object.hasOwn(v, k)) put(out, k, copy(v[k]));
  return out;
}

/**
 * A deep copy of `spec` (a pod spec as JSON: the decided one or the API server's answer) with the
 * API server's defaults filled in where absent. A spec that is not an object gives `{}` defaulted.
 */
export function apiDefaulted(spec: unknown): Obj {
  const s: Obj = isRecord(spec) ? (copy(spec) as Obj) : {};
  fill(s, { ...POD_SPEC, securityContext: {} });
  // The deprecated alias, written from serviceAccountName in conversion (pkg/apis/core/v1/conversion.go):
  // the same account twice, compared once (as serviceAccountName).
  if (s.serviceAccount === s.serviceAccountName) delete s.serviceAccount;
  for (const c of records(s.containers)) container(c, true);
  for (const c of records(s.initContainers)) container(c, true);
  for (const c of records(s.ephemeralContainers)) container(c, false);
  for (const v of records(s.volumes)) volume(v);
  // SetDefaults_Pod: with host networking, every container port is a host port.
  if (s.hostNetwork === true)
    for (const c of [...records(s.containers), ...records(s.initContainers)])
      for (const p of records(c.ports)) if (p.hostPort === undefined || p.hostPort === 0) p.hostPort = p.containerPort;
  return s;
}
