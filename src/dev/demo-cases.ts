import { join } from 'node:path';
import { REPO_ROOT } from '../adapters/tools.ts';
import { runAssignment } from '../app/assignment.ts';
import type { RunningRunner } from '../app/runner.ts';
import type { AssignmentReport } from '../run/report.ts';
import { DEMO_ISSUER, DEMO_RUNNER, type DemoKeys } from './demo-setup.ts';
import { failingStep, selfReportWorkflow } from './node/demo-real.ts';
import { signAssignment, type SigningKey } from './sign.ts';
import { readWorkflowFile } from './workflow-file.ts';

/** How the demo prints: one line at a time, colour decided by the caller. */
export type Say = (line: string) => void;
export type Paint = (colour: 'red' | 'green' | 'yellow' | 'dim' | 'bold', text: string) => string;

/** One signed assignment of the demo and the outcome it must have. */
interface DemoCase {
  readonly title: string;
  readonly expected: string;
  readonly token: string;
}

/** A case as it ran: its report and the outcome seen (rejected, or the first step status that is not succeeded). */
export interface CaseResult {
  readonly title: string;
  readonly expected: string;
  readonly report: AssignmentReport;
  readonly status: string;
}

const STATUS_COLOUR = {
  succeeded: 'green',
  denied: 'yellow',
  rejected: 'yellow',
  failed: 'red',
  error: 'red',
  skipped: 'dim',
} as const;

type Workflow = { id: string } & Record<string, unknown>;

/**
 * The demo's cases, signed up front from examples/: allowed, denied by policy, forged (an unknown
 * key), a container that exits 3 (for real on a real node, else simulated by kwok), and on a real
 * node a step that reports what the kernel enforces on it.
 */
export async function demoCases(keys: DemoKeys, realNode: boolean): Promise<readonly DemoCase[]> {
  const ex = (f: string): string => join(REPO_ROOT, 'examples', f);
  const analyze = await readWorkflowFile(ex('python-analyze.yaml'));
  const build = await readWorkflowFile(ex('node-build.yaml'));
  const [buildStep] = build.steps as Record<string, unknown>[];
  const failing = {
    ...build,
    id: 'build-fails',
    steps: [realNode ? failingStep(buildStep ?? {}) : { ...buildStep, env: { KWOK_EXIT_CODE: '3' } }],
  };
  const sign = (wf: Workflow, k: SigningKey = keys.key): Promise<string> =>
    signAssignment(k, { issuer: DEMO_ISSUER, audience: DEMO_RUNNER, workflow: wf });
  return [
    { title: 'python analyze (examples/python-analyze.yaml)', expected: 'succeeded', token: await sign(analyze) },
    {
      title: 'trivy scan as the seed writes it, :latest (examples/denied/trivy-latest.yaml)',
      expected: 'denied',
      token: await sign(await readWorkflowFile(ex('denied/trivy-latest.yaml'))),
    },
    {
      title: 'python analyze signed by an unknown key',
      expected: 'rejected',
      token: await sign({ ...analyze, id: 'forged' }, keys.stranger),
    },
    {
      title: `node build whose container exits 3 (${realNode ? 'for real' : 'simulated by kwok'})`,
      expected: 'failed',
      token: await sign(failing),
    },
    ...(realNode
      ? [
          {
            title: 'a step that reports what the kernel enforces on it (real node)',
            expected: 'succeeded',
            token: await sign(selfReportWorkflow()),
          },
        ]
      : []),
  ];
}

/**
 * Runs one case through the runner's admission and reconcile, and prints its steps (with their
 * logs on a real node) and whether it ended as expected.
 */
export async function runCase(
  c: DemoCase,
  runner: RunningRunner,
  realNode: boolean,
  say: Say,
  paint: Paint,
): Promise<CaseResult> {
  say(`\n${paint('bold', `▶ ${c.title}`)}`);
  const report = await runAssignment({ body: c.token, contentType: 'application/jwt' }, runner.deps, runner.reconciler);
  const status = !report.accepted
    ? 'rejected'
    : (report.steps.find((s) => s.status !== 'succeeded')?.status ?? 'succeeded');
  if (!report.accepted) say(`  ${paint('yellow', 'rejected')}: ${report.code ?? ''} — ${report.message}`);
  for (const s of report.steps) {
    say(
      `  step ${s.step}: ${paint(STATUS_COLOUR[s.status], s.status)}${s.code !== undefined ? ` ${s.code}` : ''}${s.pod !== undefined ? ` pod=${s.pod}` : ''}${s.exitCode !== undefined ? ` exit=${s.exitCode}` : ''}`,
    );
    if (s.status !== 'succeeded') say(`    ${s.message}`);
    if (realNode && s.pod !== undefined) await sayLog(runner, s.pod, say, paint);
  }
  say(`  expected ${c.expected}, got ${paint(status === c.expected ? 'green' : 'red', status)}`);
  return { title: c.title, expected: c.expected, report, status };
}

/** The step container's log (first 4 KiB), each line behind a dim bar; nothing when it cannot be read. */
async function sayLog(runner: RunningRunner, pod: string, say: Say, paint: Paint): Promise<void> {
  const log = await runner.deps.logs.read(pod, 'step', 4096);
  if (log.ok) for (const l of log.value.trimEnd().split('\n')) say(`    ${paint('dim', '│')} ${l}`);
}
