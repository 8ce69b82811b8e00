import type { KeyObject } from 'node:crypto';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

/**
 * Logs of any size for the readers' memory tests, written by the runner's own appender: run after
 * run of verify, validate, claim, then per step evaluate (every 7th run denied with two
 * violations), mutate (with its patch), create and finish; every 11th assignment refused at
 * verify. Each record carries a padded input so a record is about `pad` + 600 bytes.
 * `from`: the first run number (to append to a log already written); timestamps rise 10 ms a record.
 *
 *   node test/support/audit-bulk.ts <dir> <records> [from-run]   (prints the records written)
 */
export function bulkEntries(run: number, runner = 'bulk-runner', pad = 400): AuditEntry[] {
  const at = (k: number): string => new Date(Date.UTC(2026, 10, 1) + (run * 10 + k) * 10).toISOString();
  const base = (k: number, id: string): Pick<AuditEntry, 'decision_id' | 'timestamp' | 'runner' | 'labels'> => ({
    decision_id: `${runner}-${run}-${id}`,
    timestamp: at(k),
    runner,
    labels: { runner },
  });
  if (run % 11 === 10)
    return [
      {
        ...base(0, 'v'),
        stage: 'verify',
        outcome: 'deny',
        code: 'VERIFY_KEY_NOT_FOUND',
        message: 'no trusted key matches the token',
      },
    ];
  const workflow = { id: `wf-${run % 13}`, runId: `run-${run}`, jti: `jti-${run}` };
  const image = run % 5 === 0 ? `ghcr.io/acme/tool-${run % 17}:latest` : `python:3.${run % 12}`;
  const denied = run % 7 === 3;
  const revision = `rev-${Math.floor(run / 500)}`;
  const violations = denied
    ? [
        {
          code: 'IMAGE_TAG_NOT_PINNED',
          message: `image "${image}" must name a version`,
          path: 'step.image',
          policy: 'images',
          action: 'deny',
        },
        {
          code: 'PRIVILEGED',
          message: 'privileged containers are not allowed',
          path: 'step',
          policy: 'privilege',
          action: 'deny',
        },
      ]
    : [];
  const pod = { name: `workflow-${run}-step-build`, namespace: 'kubiya-workflows' };
  const out: AuditEntry[] = [
    { ...base(0, 'v'), stage: 'verify', outcome: 'allow', message: 'token verified', workflow },
    { ...base(1, 'va'), stage: 'validate', outcome: 'allow', message: 'valid', workflow },
    { ...base(2, 'c'), stage: 'claim', outcome: 'allow', message: 'accepted', workflow },
    {
      ...base(3, 'e'),
      stage: 'evaluate',
      outcome: denied ? 'deny' : 'allow',
      ...(denied ? { code: 'POLICY_DENIED' as const } : {}),
      message: denied ? 'step denied by policy: IMAGE_TAG_NOT_PINNED, PRIVILEGED' : 'step allowed by policy',
      workflow,
      step: 'build',
      path: 'kubiya/main/decision',
      input: { step: { name: 'build', image, args: ['--pad', 'x'.repeat(pad)] } },
      result: { allow: !denied, revision, violations },
      bundles: { kubiya: { revision } },
      metrics: { timer_rego_query_eval_ns: 1000 + run },
    },
  ];
  if (denied) return out;
  out.push(
    {
      ...base(4, 'm'),
      stage: 'mutate',
      outcome: 'allow',
      message: 'pod hardened to restricted',
      workflow,
      step: 'build',
      pod,
      patch: [{ op: 'add', path: '/spec/securityContext/runAsNonRoot', value: true }],
      bundles: { kubiya: { revision } },
    },
    { ...base(5, 'cr'), stage: 'create', outcome: 'allow', message: 'pod created', workflow, step: 'build', pod },
    {
      ...base(6, 'f'),
      stage: 'finish',
      outcome: run % 9 === 4 ? 'failure' : 'success',
      message: run % 9 === 4 ? 'step failed' : 'step succeeded',
      workflow,
      step: 'build',
      pod: { ...pod, phase: run % 9 === 4 ? 'Failed' : 'Succeeded', exitCode: run % 9 === 4 ? 1 : 0 },
    },
  );
  return out;
}

/**
 * Appends at least `records` records of bulkEntries to the log in `dir` (created or continued),
 * runs `from`, `from + 1`, …; answers the next run number. Appends go 64 at a time (group commit).
 */
export async function writeBulk(
  dir: string,
  records: number,
  options: { from?: number; segmentBytes?: number; checkpoint?: { key: KeyObject; kid: string } } = {},
): Promise<number> {
  const log = await FileAuditLog.open(dir, {
    ...(options.segmentBytes !== undefined ? { segmentBytes: options.segmentBytes } : {}),
    ...(options.checkpoint !== undefined
      ? { checkpoint: { ...options.checkpoint, every: 1000, intervalMs: 3_600_000 } }
      : {}),
  });
  let run = options.from ?? 0;
  try {
    for (let written = 0; written < records;) {
      const batch: AuditEntry[] = [];
      while (batch.length < 64 && written + batch.length < records) batch.push(...bulkEntries(run++));
      await Promise.all(batch.map((e) => log.append(e)));
      written += batch.length;
    }
  } finally {
    await log.close();
  }
  return run;
}

if (import.meta.main) {
  const [dir, n, from] = process.argv.slice(2);
  const next = await writeBulk(dir as string, Number(n), { from: Number(from ?? 0) });
  process.stdout.write(`${next}\n`);
}
