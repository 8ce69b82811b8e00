/**
 * The OPA sidecar architecture, for comparison: the same Rego and data served by the pinned
 * `opa run --server` on loopback, queried once per decision over keep-alive HTTP. Its raw result
 * goes through our evaluate stage's checks (schema, fail-closed), so only the transport differs.
 */
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { evaluate, type Evaluation, type PolicyInput } from '../src/evaluate/evaluate.ts';
import { DECISION_ENTRYPOINT } from '../src/evaluate/policy-engine.ts';
import { freePort } from '../src/dev/ports.ts';
import { startProcess, stopPid, waitUntil } from '../src/dev/processes.ts';
import { REPO_ROOT } from '../src/adapters/tools.ts';

export interface Sidecar {
  readonly base: string;
  /** One decision over HTTP, checked exactly as the in-process engine's result is. */
  evaluate(input: PolicyInput): Promise<Evaluation>;
  stop(): Promise<void>;
}

/** Starts `opa run --server` on the policies/ directory (Rego + data.json, tests ignored). */
export async function startSidecar(opa: string, work: string, revision: string): Promise<Sidecar> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = startProcess(
    'opa',
    opa,
    [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${port}`,
      '--skip-version-check',
      '--disable-telemetry',
      '--log-level',
      'error',
      '--ignore',
      '*_test.rego',
      join(REPO_ROOT, 'policies'),
    ],
    join(work, 'opa.log'),
    false,
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const post = (body: string) =>
    new Promise<unknown>((resolve, reject) => {
      const req = request(
        `${base}/v1/data/${DECISION_ENTRYPOINT}`,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
              : reject(new Error(`opa answered ${res.statusCode}`)),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    await waitUntil('opa run --server', async () => (await fetch(`${base}/health`)).status === 200, 15_000, proc);
  } catch (e) {
    await stopPid(proc.pid);
    throw e;
  }
  return {
    base,
    evaluate: async (input) => {
      // The server wraps the document as { result }; the WASM SDK returns a result set [{ result }].
      const answer = (await post(JSON.stringify({ input }))) as { result?: unknown };
      return evaluate(input, {
        revision,
        entrypoints: [DECISION_ENTRYPOINT],
        evaluate: () => [{ result: answer.result }],
      });
    },
    stop: async () => {
      agent.destroy();
      await stopPid(proc.pid);
    },
  };
}
