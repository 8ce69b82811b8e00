/**
 * Where a `serve` process's CPU went during a bench, by part of the work (issue 20 §2: runner CPU
 * per step is the lever on 2 cores). Each sample of a V8 CPU profile (`node --cpu-prof`, written
 * when KUBIYA_BENCH_PROFILE_DIR is set, bench/runner-env.ts) is put in the first bucket whose rule
 * matches a frame of its stack, from the leaf up; idle samples are left out. A profile has no async
 * stacks: a continuation after an `await` shows only the frames it resumed, so the rules name the
 * functions those continuations run in (client-node's generated API methods, the audit writer).
 *
 *   node bench/peers/profile-split.ts <file.cpuprofile>... [--steps N] [--other N]
 *
 * Prints one Markdown table: bucket, CPU ms, share, and µs per step when --steps is given; --other N
 * lists the N heaviest unmatched leaf frames (to refine the rules). Then the split into admission
 * and the rest: "admission:" buckets count for admission, "rest:" ones for the rest, the shared
 * ones by a key (ADMISSION_SHARE: audit by records, 3 of 9 per one-step run; API requests by their
 * measured client CPU, --admission-requests, default 0.31 = run-id LIST + WorkflowRun POST of the
 * six requests at 8bf9ea8, bench/peers/request-cost.ts), and GC, "(program)" and unmatched samples
 * in proportion to the rest.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A bucket and whether a frame belongs to it; the first rule matching any frame (leaf first) wins. */
interface Rule {
  readonly bucket: string;
  readonly match: (f: CallFrame) => boolean;
}

const inFile = (part: string) => (f: CallFrame) => f.url.includes(part);
const named =
  (re: RegExp, part = '') =>
  (f: CallFrame) =>
    re.test(f.functionName) && f.url.includes(part);

/**
 * The buckets, most specific first. "admission:" buckets are intake's work (HTTP, receive, verify,
 * validate, the WorkflowRun create); "rest:" is the reconciler's (evaluate, mutate, pod create,
 * status, watches, finish); "audit" is shared and split by record counts by the reader.
 */
export const RULES: readonly Rule[] = [
  { bucket: 'gc', match: (f) => f.functionName === '(garbage collector)' },
  { bucket: 'audit (append, hash, sign, canonical JSON, mask)', match: inFile('/src/audit/') },
  { bucket: 'audit (append, hash, sign, canonical JSON, mask)', match: inFile('/src/adapters/audit-') },
  { bucket: 'rest: policy evaluation (evaluate, WASM)', match: inFile('/src/evaluate/') },
  { bucket: 'rest: policy evaluation (evaluate, WASM)', match: inFile('/src/adapters/opa-wasm') },
  { bucket: 'rest: policy evaluation (evaluate, WASM)', match: named(/^(js-to-wasm|wasm-to-js)|wasm-function/) },
  { bucket: 'admission: verify (jose, WebCrypto)', match: inFile('/src/verify/') },
  { bucket: 'admission: verify (jose, WebCrypto)', match: inFile('/node_modules/jose/') },
  { bucket: 'admission: validate', match: inFile('/src/validate/') },
  { bucket: 'rest: WorkflowRun status write', match: named(/CustomObjectStatus/, '@kubernetes/client-node') },
  { bucket: 'admission: WorkflowRun create (client-node)', match: named(/NamespacedCustomObject/, 'client-node') },
  { bucket: 'rest: pod create (client-node)', match: named(/createNamespacedPod/, 'client-node') },
  { bucket: 'rest: watches and informers', match: inFile('/src/adapters/api-watch') },
  { bucket: 'rest: watches and informers', match: inFile('/@kubernetes/client-node/dist/watch') },
  { bucket: 'rest: watches and informers', match: inFile('/@kubernetes/client-node/dist/cache') },
  { bucket: 'rest: watches and informers', match: inFile('/@kubernetes/client-node/dist/informer') },
  { bucket: 'rest: watches and informers', match: inFile('node:internal/readline') },
  { bucket: 'rest: reconcile (other)', match: inFile('/src/reconcile/') },
  { bucket: 'rest: reconcile (other)', match: inFile('/src/mutate/') },
  { bucket: 'rest: reconcile (other)', match: inFile('/src/pod/') },
  { bucket: 'rest: reconcile (other)', match: inFile('/src/create/') },
  { bucket: 'rest: reconcile (other)', match: inFile('/src/egress/') },
  { bucket: 'rest: kube adapters (runs, pods, followed)', match: inFile('/src/adapters/kube-') },
  { bucket: 'rest: kube adapters (runs, pods, followed)', match: inFile('/src/adapters/followed') },
  { bucket: 'admission: intake (HTTP server, receive, admit)', match: inFile('/src/adapters/http-server') },
  { bucket: 'admission: intake (HTTP server, receive, admit)', match: inFile('/src/admission/') },
  { bucket: 'admission: intake (HTTP server, receive, admit)', match: inFile('/src/receive/') },
  { bucket: 'admission: intake (HTTP server, receive, admit)', match: inFile('/src/app/intake') },
  {
    bucket: 'admission: intake (HTTP server, receive, admit)',
    match: named(/parserOnIncoming$|^_storeHeader|writeHead/),
  },
  { bucket: 'pipeline (verified, auditor, cache)', match: inFile('/src/pipeline/') },
  { bucket: 'client-node (other: request, serialise, parse)', match: inFile('@kubernetes/client-node') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('node:_http_client') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: named(/parserOnIncomingClient/) },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('node-fetch') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('/undici/') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('node:internal/http2') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('node:_tls') },
  { bucket: 'HTTP client (node:http, undici, sockets, TLS)', match: inFile('node:net') },
  { bucket: 'logging (pino)', match: inFile('/node_modules/pino') },
  { bucket: 'metrics (prom-client)', match: inFile('/node_modules/prom-client') },
  { bucket: 'other src', match: inFile('/src/') },
];

/** The admission's part of each shared bucket (see the module comment); "requests" is replaced by --admission-requests. */
const ADMISSION_SHARE: Readonly<Record<string, number | 'requests'>> = {
  'audit (append, hash, sign, canonical JSON, mask)': 3 / 9,
  'HTTP client (node:http, undici, sockets, TLS)': 'requests',
  'client-node (other: request, serialise, parse)': 'requests',
  'logging (pino)': 4 / 10,
  'metrics (prom-client)': 4 / 10,
  'pipeline (verified, auditor, cache)': 1 / 2,
  'other src': 1 / 3,
};

/** Admission's and the rest's CPU (µs) from the buckets; GC, "(program)" and unmatched in proportion. */
export function admissionSplit(
  buckets: ReadonlyMap<string, number>,
  requests: number,
): { readonly admission: number; readonly rest: number } {
  let admission = 0;
  let rest = 0;
  let shared = 0;
  for (const [b, us] of buckets) {
    const key = ADMISSION_SHARE[b];
    const part = b.startsWith('admission:') ? 1 : b.startsWith('rest:') ? 0 : key === 'requests' ? requests : key;
    if (part === undefined) shared += us;
    else {
      admission += us * part;
      rest += us * (1 - part);
    }
  }
  const f = admission / (admission + rest);
  return { admission: admission + shared * f, rest: rest + shared * (1 - f) };
}

/** CPU microseconds per bucket (idle and "(program)" counted apart), over every given profile. */
export function split(profiles: readonly Profile[]): {
  readonly buckets: Map<string, number>;
  readonly other: Map<string, number>;
} {
  const buckets = new Map<string, number>();
  const other = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v);
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const memo = new Map<number, string>();
    const bucketOf = (id: number): string => {
      const known = memo.get(id);
      if (known !== undefined) return known;
      let found = 'unmatched';
      for (let at: number | undefined = id; at !== undefined && found === 'unmatched'; at = parent.get(at)) {
        const f = byId.get(at)?.callFrame;
        const rule = f === undefined ? undefined : RULES.find((r) => r.match(f));
        if (rule !== undefined) found = rule.bucket;
      }
      memo.set(id, found);
      return found;
    };
    p.samples.forEach((id, i) => {
      const f = byId.get(id)?.callFrame;
      const dt = p.timeDeltas[i] ?? 0;
      if (f?.functionName === '(idle)') return;
      const b = f?.functionName === '(program)' ? '(program)' : bucketOf(id);
      add(buckets, b, dt);
      if (b === 'unmatched' && f !== undefined)
        add(other, `${f.functionName || '(anonymous)'} ${f.url}:${f.lineNumber + 1}`, dt);
    });
  }
  return { buckets, other };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { steps: { type: 'string' }, other: { type: 'string' }, 'admission-requests': { type: 'string' } },
  });
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  const profiles = await Promise.all(positionals.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as Profile));
  const { buckets, other } = split(profiles);
  const total = [...buckets.values()].reduce((a, b) => a + b, 0);
  console.log(`| bucket | CPU ms | share |${steps !== undefined ? ' µs per step |' : ''}`);
  console.log(`|---|---:|---:|${steps !== undefined ? '---:|' : ''}`);
  for (const [b, us] of [...buckets].sort((x, y) => y[1] - x[1]))
    console.log(
      `| ${b} | ${(us / 1000).toFixed(0)} | ${((us / total) * 100).toFixed(1)} % |${steps !== undefined ? ` ${(us / steps).toFixed(0)} |` : ''}`,
    );
  console.log(
    `| total (not idle) | ${(total / 1000).toFixed(0)} | 100 % |${steps !== undefined ? ` ${(total / steps).toFixed(0)} |` : ''}`,
  );
  const split2 = admissionSplit(buckets, Number(values['admission-requests'] ?? 0.31));
  console.log(
    `\nadmission ${((split2.admission / total) * 100).toFixed(0)} %, the rest ${((split2.rest / total) * 100).toFixed(0)} %`,
  );
  const n = Number(values.other ?? 0);
  for (const [k, us] of [...other].sort((x, y) => y[1] - x[1]).slice(0, n))
    console.log(`  ${(us / 1000).toFixed(0)} ms  ${k}`);
}
