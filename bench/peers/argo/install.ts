/**
 * The cluster-scoped and process-wide pieces the Argo rows share, installed once for the first row
 * that starts and removed when the last one stops: Argo's CRDs (read at run time from the v4.0.5
 * module zip in the Go module cache, never copied into this repository) and a loopback guard on
 * port 6060.
 *
 * Port 6060: workflow-controller v4.0.5 always serves /healthz on ":6060", all interfaces, with no
 * flag to move it (cmd/workflow-controller/main.go). Holding 127.0.0.1:6060 ourselves makes that
 * wildcard bind fail on Linux (EADDRINUSE; the controller logs it and runs on), so the flagged
 * version listens on nothing at all. Metrics and telemetry are off in its ConfigMap (manifest.ts).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  ApiextensionsV1Api,
  loadYaml,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { ARGO_VERSION } from './manifest.ts';

/** The controller's fixed health port (not configurable in v4.0.5). */
export const HEALTH_PORT = 6060;

/** Where the module zip's minimal CRDs are, under `go env GOMODCACHE`. */
export async function crdDir(): Promise<string> {
  const { stdout } = await promisify(execFile)('go', ['env', 'GOMODCACHE']);
  return join(stdout.trim(), `github.com/argoproj/argo-workflows/v4@${ARGO_VERSION}`, 'manifests/base/crds/minimal');
}

/**
 * The CRDs of the module zip (every argoproj.io_*.yaml), as client-node models. Deserialised, not
 * just parsed: client-node serialises a request body by its model's attribute names, so a plain
 * parse would lose every key whose JSON name differs (`x-kubernetes-preserve-unknown-fields`), and
 * the API server would then prune each Workflow's spec to `{}`.
 */
export async function readCrds(dir: string): Promise<V1CustomResourceDefinition[]> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('argoproj.io_') && f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (f) => loadYaml<V1CustomResourceDefinition>(await readFile(join(dir, f), 'utf8'))),
  );
}

const established = (crd: V1CustomResourceDefinition): boolean =>
  crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;

/** A CRD's state: absent, being deleted (by a row that stopped just before), or there. */
async function crdState(api: ApiextensionsV1Api, name: string): Promise<'absent' | 'terminating' | 'present'> {
  try {
    const crd = await api.readCustomResourceDefinition({ name });
    return crd.metadata?.deletionTimestamp !== undefined ? 'terminating' : 'present';
  } catch (error) {
    if ((error as { code?: number }).code === 404) return 'absent';
    throw error;
  }
}

/** Polls until `done`, every 100 ms, at most CRD_WAIT_MS; throws with `what` otherwise. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + CRD_WAIT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`argo: ${what} after ${CRD_WAIT_MS} ms`);
    await sleep(100);
  }
}
const CRD_WAIT_MS = 60_000;

/**
 * Creates each CRD and waits until it is Established. One still being deleted (the previous row's
 * stop) is waited out first: creating over it answers 409, and the controller's informers would
 * then never sync once the deletion completes. One left by a crashed run is reused.
 */
async function installCrds(kc: KubeConfig): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const crd of await readCrds(await crdDir())) {
    const name = crd.metadata?.name ?? '';
    await until(`CRD ${name} still terminating`, async () => (await crdState(api, name)) !== 'terminating');
    await api.createCustomResourceDefinition({ body: crd }).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
    names.push(name);
  }
  for (const name of names)
    await until(`CRD ${name} not Established`, async () =>
      established(await api.readCustomResourceDefinition({ name })),
    );
  return names;
}

/** Deletes the CRDs (and with them every Argo object left) and waits until they are gone. */
async function deleteCrds(kc: KubeConfig, names: readonly string[]): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) await api.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  for (const name of names)
    await until(`CRD ${name} not deleted`, async () => (await crdState(api, name)) === 'absent');
}

function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.destroy());
    server.on('error', () => resolve(undefined)); // already taken: the controller cannot bind it either
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

interface Shared {
  users: number;
  crds: string[];
  guard: Server | undefined;
}
let shared: Shared | undefined;
let pending: Promise<void> = Promise.resolve();

/** Serialises acquire/release so two rows starting together install the CRDs once. */
function serial<T>(step: () => Promise<T>): Promise<T> {
  const run = pending.then(step);
  pending = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}

/** First caller installs the CRDs and takes the port guard; later callers only count. */
export function acquireShared(kc: KubeConfig): Promise<void> {
  return serial(async () => {
    if (shared !== undefined) {
      shared.users++;
      return;
    }
    const guard = await holdPort(HEALTH_PORT);
    try {
      shared = { users: 1, crds: await installCrds(kc), guard };
    } catch (error) {
      guard?.close();
      throw error;
    }
  });
}

/** Last caller deletes the CRDs (and with them every Workflow left) and frees the port. */
export function releaseShared(kc: KubeConfig): Promise<void> {
  return serial(async () => {
    if (shared === undefined) return;
    shared.users--;
    if (shared.users > 0) return;
    const { crds, guard } = shared;
    shared = undefined;
    guard?.close();
    await deleteCrds(kc, crds);
  });
}
