/**
 * The peers scenario's measures of processes and of the API server (issue 20 §1): API writes from
 * the API server's own `apiserver_request_total` counter, CPU time from /proc/<pid>/stat, peak RSS
 * from /proc/<pid>/status. Parsers are pure (unit-tested in test/unit/bench-peers.test.ts); the
 * readers beside them do the I/O.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * The request verbs that count as writes. `apiserver_request_total`'s verb label is the API
 * server's cleaned verb: POST (create, including pods/binding and pods/eviction), PUT (update,
 * including status subresources), PATCH, APPLY (server-side apply), DELETE and DELETECOLLECTION.
 * GET, LIST, WATCH and CONNECT are reads. Dry-run requests (dry_run="All") persist nothing and are
 * not counted.
 */
export const WRITE_VERBS: ReadonlySet<string> = new Set([
  'POST',
  'PUT',
  'PATCH',
  'APPLY',
  'DELETE',
  'DELETECOLLECTION',
]);

/**
 * Write counts keyed "VERB group/resource[/subresource]" (core group written as ""), e.g.
 * "POST /pods/binding"; a request the API server refused is counted apart with its code, e.g.
 * "DELETE /pods 404" (it cost the API server a request, but wrote nothing).
 */
export type WriteCounts = ReadonlyMap<string, number>;

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The labels of one sample line `name{a="x",b="y"} 12`, or undefined when the line has none. */
export function sampleLabels(line: string): Record<string, string> | undefined {
  const open = line.indexOf('{');
  const close = line.lastIndexOf('}');
  if (open < 0 || close < open) return undefined;
  const labels: Record<string, string> = {};
  for (const m of line.slice(open + 1, close).matchAll(LABEL)) labels[m[1] as string] = m[2] as string;
  return labels;
}

/**
 * Sums `apiserver_request_total` samples of the write verbs in a Prometheus text exposition by
 * verb + group/resource/subresource (every component, every response code, dry runs excluded).
 */
export function parseWrites(text: string): WriteCounts {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const l = sampleLabels(line);
    if (l === undefined || !WRITE_VERBS.has(l.verb ?? '') || l.dry_run === 'All') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    const code = l.code ?? '';
    const key = `${l.verb} ${l.group ?? ''}/${l.resource ?? ''}${l.subresource ? `/${l.subresource}` : ''}${code.startsWith('2') || code === '' ? '' : ` ${code}`}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** after − before per key (keys with no change dropped), and their total. */
export function writesDelta(
  before: WriteCounts,
  after: WriteCounts,
): { readonly total: number; readonly byKey: Record<string, number> } {
  const byKey: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d === 0) continue;
    byKey[k] = d;
    total += d;
  }
  return { total, byKey };
}

/**
 * utime + stime (fields 14 and 15, clock ticks) of a /proc/<pid>/stat line. The command name
 * (field 2) is in parentheses and may itself contain spaces and ")": fields are counted from the
 * LAST ")". Undefined when the line is not a stat line.
 */
export function parseStatTicks(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // after ") ": field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isInteger(utime) && Number.isInteger(stime) ? utime + stime : undefined;
}

/** VmHWM (peak resident set) of a /proc/<pid>/status text, in bytes; undefined when absent. */
export function parseVmHwm(status: string): number | undefined {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (getconf CLK_TCK; 100 when getconf is missing). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) a live process has used so far; undefined when it is gone. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  const ticks = stat === undefined ? undefined : parseStatTicks(stat);
  return ticks === undefined ? undefined : ticks / clockTicks();
}

/** Peak RSS (VmHWM) of a live process in bytes; undefined when it is gone. */
export async function peakRss(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  return status === undefined ? undefined : parseVmHwm(status);
}

/** GET `path` from the API server with the kubeconfig's credentials (CA-verified); the body. */
export async function apiGetText(kc: KubeConfig, path: string): Promise<string> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('the kubeconfig names no cluster');
  const opts: { headers?: Record<string, string>; ca?: Buffer | string } = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(`${server}${path}`, { ...opts, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)}`)),
      );
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.end();
  });
}

/** The resource of leader-election and heartbeat renewals: background writes, not a row's. */
const LEASES = 'coordination.k8s.io/leases';

/**
 * Waits until the API server sees no writes but lease renewals for one whole second (bounded by
 * `maxMs`), so what a reset set off (garbage collection, a controller's reaction) ends before the
 * next round's window opens. Resolves true when quiet, false at the bound.
 */
export async function settle(kc: KubeConfig, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let before = await apiWrites(kc);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const after = await apiWrites(kc);
    const moved = Object.keys(writesDelta(before, after).byKey).filter((k) => !k.includes(LEASES));
    if (moved.length === 0) return true;
    before = after;
  }
  return false;
}

/** The API server's write counters now (GET /metrics). */
export async function apiWrites(kc: KubeConfig): Promise<WriteCounts> {
  return parseWrites(await apiGetText(kc, '/metrics'));
}
