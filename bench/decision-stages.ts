/**
 * Where the decision path's CPU goes, stage by stage (issue #20 §2): each stage of
 * bench/decision-path.ts run alone, in one process, over the bench's own tokens and workflow, with
 * CPU time of the JS thread (`process.threadCpuUsage`) and of the whole process per call. Audit
 * records are built (masked) but handed to a sink that keeps nothing; their canonical text and
 * hash are a stage of their own; the file write and fdatasync are not measured here (bench/audit.ts).
 *   node --expose-gc bench/decision-stages.ts [--calls N] [--rounds N]
 * Stages are measured in interleaved rounds; each figure is the median over the rounds.
 */
import { randomUUID } from 'node:crypto';
import { chainLine, GENESIS } from '../src/audit/chain.ts';
import type { AuditEntry, AuditSink } from '../src/audit/record.ts';
import { evaluate, policyInput } from '../src/evaluate/evaluate.ts';
import { DECISION_ENTRYPOINT } from '../src/evaluate/policy-engine.ts';
import { mutate } from '../src/mutate/restricted.ts';
import { auditor } from '../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../src/pipeline/deps.ts';
import { verifiedRuns } from '../src/pipeline/verified-cache.ts';
import { reverified, verified } from '../src/pipeline/verified.ts';
import { buildPod } from '../src/pod/build.ts';
import type { RunObject } from '../src/ports/runs.ts';
import { validate } from '../src/validate/validate.ts';
import type { Workflow } from '../src/validate/schema.ts';
import { thumbprintOf } from '../src/verify/trusted-keys.ts';
import { verifyAssignment } from '../src/verify/verify.ts';
import { decisionFixture } from './decision-fixture.ts';
import { decide } from './decision-path.ts';
import { machineLine, spread } from './stats.ts';

/** One call of a stage over token i; `before` (not measured) runs before each measured loop of it. */
interface Stage {
  (i: number): unknown;
  before?: () => Promise<void>;
}

const micros = (u: NodeJS.CpuUsage): number => u.user + u.system;

/** JS-thread and process CPU µs per call of `stage`, over `calls` sequential calls. */
async function measure(stage: Stage, calls: number): Promise<{ thread: number; process: number }> {
  await stage.before?.();
  global.gc?.();
  const t0 = process.threadCpuUsage();
  const p0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const r = stage(i);
    if (r instanceof Promise) await r;
  }
  return { thread: micros(process.threadCpuUsage(t0)) / calls, process: micros(process.cpuUsage(p0)) / calls };
}

/** A sink that keeps nothing: records are built (and masked) as the pipeline builds them. */
const discard: AuditSink = { append: (e) => Promise.resolve({ ...e, seq: 0, prev: GENESIS, hash: GENESIS }) };

/** The stages, each as one call over token i of the fixture. */
async function stages(): Promise<{ readonly stages: Record<string, Stage>; close(): Promise<void> }> {
  const f = await decisionFixture(200);
  const deps = f.deps(discard);
  const pipeline = { policy: () => undefined, ...deps } as PipelineDeps;
  const audit = auditor(pipeline);
  const token = (i: number): string => f.tokens[i % f.tokens.length] as string;
  const first = await verifyAssignment(token(0), deps.config.verify, { keys: deps.keys, now: deps.now });
  if (!first.ok) throw new Error(first.error.code);
  const validated = validate(first.value.claims.workflow);
  if (!validated.ok) throw new Error(validated.error.code);
  const workflow: Workflow = validated.value;
  const step = workflow.steps[0];
  if (step === undefined) throw new Error('no step');
  const ctx = {
    runner: deps.config.runner,
    namespace: deps.config.namespace,
    serviceAccount: deps.config.serviceAccount,
    defaultTimeoutSeconds: deps.config.defaultTimeoutSeconds,
    workspaceSize: deps.config.workspaceSize,
    defaultResources: deps.config.defaultResources,
  };
  const pod = buildPod(workflow, step, ctx);
  const input = policyInput(deps.config.runner, workflow, step, pod);
  const engine = deps.policy?.();
  if (engine === undefined) throw new Error('no engine');
  const evaluation = evaluate(input, engine);
  if (evaluation.kind !== 'allow') throw new Error(evaluation.kind);
  const hardened = mutate(pod, deps.config.profile);
  // Runs admitted once, bound to a UID: reverified() reuses intake's verification, as a pass does.
  const runs: RunObject[] = [];
  for (let i = 0; i < f.tokens.length; i++) {
    const admitted = await verified(token(i), pipeline, audit);
    if (!admitted.ok) throw new Error(admitted.error.code);
    const uid = randomUUID();
    verifiedRuns(deps.trust).bind(token(i), uid);
    runs.push({
      name: admitted.value.name,
      uid,
      createdAt: deps.now(),
      workflowId: admitted.value.ref.id,
      runId: admitted.value.ref.runId,
      token: token(i),
      cancelRequested: false,
      status: { phase: 'Running', steps: [] } as unknown as NonNullable<RunObject['status']>,
    });
  }
  // Each call of the whole decision binds one more run (the cache keeps MAX_ENTRIES, least recently
  // used out), so by this stage's next round these runs may be gone: admitted and bound again first,
  // and every one checked to be a hit, so the stage measures what its name says.
  const cache = verifiedRuns(deps.trust);
  const rebind = async (): Promise<void> => {
    for (const run of runs) {
      if (!(await verified(run.token, pipeline, audit)).ok) throw new Error('re-admission failed');
      cache.bind(run.token, run.uid);
      if ((await cache.recall(run, deps, deps.config.verify)) === undefined) throw new Error('not a cache hit');
    }
  };
  const entries: AuditEntry[] = [];
  const capture: AuditSink = {
    append: (e) => (entries.push(e), Promise.resolve({ ...e, seq: 0, prev: GENESIS, hash: GENESIS })),
  };
  await decide(token(0), f.deps(capture), f.wasm);
  const at = { workflow: { id: workflow.id, runId: workflow.runId }, step: step.name };
  const result = evaluation.decision;
  const bundles = { kubiya: { revision: result.revision } };
  return {
    stages: {
      'whole decision (records discarded)': (i) => decide(token(i), deps, f.wasm),
      'intake: verified() (verify, validate, thumbprint, trust, 2 records)': (i) => verified(token(i), pipeline, audit),
      '  jose verifyAssignment (Ed25519, claims)': (i) =>
        verifyAssignment(token(i), deps.config.verify, { keys: deps.keys, now: deps.now }),
      '  thumbprintOf(key)': () => thumbprintOf(first.value.key),
      '  validate(workflow claim)': () => validate(first.value.claims.workflow),
      'pass: reverified() of a bound run (verification reused)': Object.assign(
        (i: number) => reverified(runs[i % runs.length] as RunObject, pipeline, audit),
        { before: rebind },
      ),
      'buildPod + policyInput': () => policyInput(deps.config.runner, workflow, step, buildPod(workflow, step, ctx)),
      'evaluate (WASM, decision schema)': () => evaluate(input, engine),
      '  engine.evaluate (WASM + SDK JSON in/out)': () => engine.evaluate(input, DECISION_ENTRYPOINT),
      mutate: () => mutate(pod, deps.config.profile),
      'records: evaluate + mutate built and masked': () =>
        Promise.all([
          audit.passed('evaluate', 'step allowed by policy', {
            ...at,
            path: 'kubiya/main/decision',
            input,
            result,
            bundles,
            metrics: { timer_rego_query_eval_ns: 1 },
          }),
          audit.passed('mutate', 'pod hardened to restricted', { ...at, patch: hardened.patch, bundles }),
        ]),
      'records: canonical JSON + SHA-256 of the 4 records': (i) => entries.map((e) => chainLine(e, i + 1, GENESIS)),
    },
    close: () => f.close(),
  };
}

if (import.meta.main) {
  const arg = (name: string, d: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const calls = arg('--calls', 300);
  const rounds = arg('--rounds', 5);
  console.error(`decision stages: ${machineLine()}; ${rounds} rounds of ${calls} calls per stage`);
  const s = await stages();
  try {
    const thread = new Map<string, number[]>();
    const proc = new Map<string, number[]>();
    for (const stage of Object.values(s.stages)) await measure(stage, Math.min(calls, 100)); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const [name, stage] of Object.entries(s.stages)) {
        const m = await measure(stage, calls);
        thread.set(name, [...(thread.get(name) ?? []), m.thread]);
        proc.set(name, [...(proc.get(name) ?? []), m.process]);
      }
      console.error(`  round ${r + 1}/${rounds} (${machineLine()})`);
    }
    console.log('| stage | JS thread µs/call (min–max) | process µs/call |\n|---|---:|---:|');
    for (const name of Object.keys(s.stages)) {
      const t = spread(thread.get(name) ?? []);
      const p = spread(proc.get(name) ?? []);
      console.log(
        `| ${name} | ${t.median.toFixed(0)} (${t.min.toFixed(0)}–${t.max.toFixed(0)}) | ${p.median.toFixed(0)} |`,
      );
    }
    console.error(`  done (${machineLine()})`);
  } finally {
    await s.close();
  }
}
