import { Command, Option } from 'commander';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { readTrusted } from '../adapters/audit-files.ts';
import { buildBundle, PolicyBuildError } from '../adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../adapters/opa-wasm.ts';
import { resolveTools } from '../adapters/tools.ts';
import { denial, evaluate, policyInput } from '../evaluate/evaluate.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { replay } from '../policy/replay.ts';
import { checkPolicyData, fragmentsOf } from '../policy/settings-schema.ts';
import { buildPod, type PodContext } from '../pod/build.ts';
import { validate } from '../validate/validate.ts';
import { breakNotice, publicKey } from './audit.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import type { Env } from './serve.ts';
import { examples, outputOption } from './options.ts';

const run = promisify(execFile);
/** Policies are read from ./policies of the working directory unless --policies says otherwise. */
const DEFAULT_POLICIES = 'policies';

function opaPath(): string {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new CliError(tools.error.code, tools.error.message);
  return tools.value.opa;
}

/** A build failure as a CLI error with its code (POLICY_SETTINGS_INVALID for settings, else POLICY_BUILD_FAILED). */
function buildFailure(e: unknown): never {
  throw new CliError(
    e instanceof PolicyBuildError ? e.code : 'POLICY_BUILD_FAILED',
    e instanceof Error ? e.message : String(e),
  );
}

/** The bundle given, or one built now from the policy directory. */
async function engineFor(bundle: string | undefined, policies: string): Promise<PolicyEngine> {
  if (bundle !== undefined) {
    const files = await readBundle(resolve(bundle)).catch((e: unknown) => {
      throw new CliError(
        'POLICY_NOT_LOADED',
        `cannot load bundle ${bundle}: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    const checked = checkPolicyData(files.data, fragmentsOf(files.settingsSchema));
    if (!checked.ok) throw new CliError(checked.error.code, `bundle ${bundle}: ${checked.error.message}`);
    return loadEngine(files).catch((e: unknown) => {
      throw new CliError(
        'POLICY_NOT_LOADED',
        `cannot load bundle ${bundle}: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-policy-'));
  try {
    const built = await buildBundle(opaPath(), resolve(policies), join(dir, 'bundle.tar.gz')).catch(buildFailure);
    return await loadEngine(await readBundle(built.file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The runner configuration `policy eval` builds pods with: the `--config` file with the same
 * environment overrides `serve` applies, or the schema's defaults when none is given (a minimal
 * config: only the fields the schema requires). Either way the pod is built exactly as `serve`
 * with that configuration builds it (runner name, namespace, service account, default timeout,
 * workspace size and runner.workflow.defaultResources), so eval and serve decide alike.
 */
async function runnerConfig(file: string | undefined, env: Env): Promise<Config> {
  let text: string;
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch {
      throw new CliError('CONFIG_INVALID', `cannot read ${file}`);
    }
  } else {
    text =
      'runner: { name: eval }\ncontrolPlane: { issuer: "https://eval.invalid", jwksFile: /dev/null }\npolicy: { bundle: /dev/null }\naudit: { dir: /dev/null }\n';
  }
  const config = loadConfig(text, file !== undefined ? env : {});
  if (!config.ok) throw new CliError(config.error.code, config.error.message);
  return config.value;
}

/** The pod context `serve` uses for a configuration (src/app/server.ts), for one evaluated run. */
export function evalPodContext(config: Config): PodContext {
  const w = config.runner.workflow;
  return {
    runner: config.runner.name,
    namespace: w.namespace,
    serviceAccount: w.serviceAccount,
    defaultTimeoutSeconds: w.defaultTimeout,
    workspaceSize: config.runner.storage.workspaceSize,
    defaultResources: w.defaultResources,
  };
}

/** A file holding a workflow (with steps) or one step; returns a validated workflow. */
async function workflowFrom(file: string) {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, 'utf8'), { maxAliasCount: 0 });
  } catch (e) {
    throw new CliError('VALIDATE_SCHEMA', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const isWorkflow = typeof doc === 'object' && doc !== null && 'steps' in doc;
  const wf = isWorkflow
    ? { runId: 'eval', name: 'eval', ...(doc as object) }
    : { id: 'eval', name: 'eval', runId: 'eval', steps: [doc] };
  const valid = validate(wf);
  if (!valid.ok) {
    const issues = valid.error.details?.issues ?? [];
    throw new CliError(
      'VALIDATE_SCHEMA',
      `${file} is not a valid ${isWorkflow ? 'workflow' : 'step'}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
  return valid.value;
}

/** The policy commands; `env` is the environment `serve` would read its overrides from. */
export function policyCommands(io: Io, setCode: (c: number) => void, env: Env = {}): Command {
  const paint = painter(io);
  const policy = new Command('policy').description('build, test, evaluate and replay the Rego policies');
  policy
    .command('build')
    .description('compile the policies to a WASM bundle (opa build -t wasm) with a content-hash revision')
    .option('--policies <dir>', 'policy directory', DEFAULT_POLICIES)
    .option('--out <file>', 'bundle file', 'bundle.tar.gz')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy build --out /tmp/bundle.tar.gz',
        'kubiya-runner policy build --policies ./my-policies --output json',
      ),
    )
    .action(async (opts: { policies: string; out: string; output: string }) => {
      const built = await buildBundle(opaPath(), resolve(opts.policies), resolve(opts.out)).catch(buildFailure);
      io.out(opts.output === 'json' ? JSON.stringify(built) : `built ${built.file} (revision ${built.revision})`);
    });

  policy
    .command('test')
    .description('run the Rego unit tests (opa test) with coverage')
    .option('--policies <dir>', 'policy directory', DEFAULT_POLICIES)
    .addHelpText('after', examples('kubiya-runner policy test', 'kubiya-runner policy test --policies ./my-policies'))
    .action(async (opts: { policies: string }) => {
      const result = await run(opaPath(), ['test', resolve(opts.policies), '--coverage', '--format', 'json'], {
        maxBuffer: 64 * 1024 * 1024,
      }).then(
        (r) => ({ ok: true, stdout: r.stdout }),
        (e: { stdout?: string; stderr?: string }) => ({ ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
      );
      let report: { coverage?: number; files?: Record<string, { coverage: number }> } = {};
      try {
        report = JSON.parse(result.stdout) as typeof report;
      } catch {
        // failures are printed below by opa's own text output
      }
      const verbose = await run(opaPath(), ['test', resolve(opts.policies)]).then(
        (r) => r.stdout,
        (e: { stdout?: string }) => e.stdout ?? '',
      );
      io.out(verbose.trimEnd());
      if (report.files !== undefined) {
        for (const [file, { coverage }] of Object.entries(report.files))
          if (!file.endsWith('_test.rego')) io.out(`coverage ${coverage.toFixed(1).padStart(5)} %  ${file}`);
      }
      setCode(result.ok ? EXIT.ok : EXIT.failed);
    });

  policy
    .command('eval <file>')
    .description('evaluate a step (or every step of a workflow file) and print the decision with its reasons')
    .option('--bundle <file>', 'policy bundle (default: build policies/ now)')
    .option('--policies <dir>', 'policy directory to build when no --bundle is given', DEFAULT_POLICIES)
    .option(
      '--config <file>',
      'runner configuration to build the pods with, as serve does (default: the configuration defaults)',
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy eval examples/denied/trivy-latest.yaml',
        'kubiya-runner policy eval step.yaml --bundle /tmp/candidate.tar.gz --config /etc/kubiya/runner.yaml --output json',
      ) + '\neval: 0 every step allowed, 1 a step denied.',
    )
    .action(async (file: string, opts: { bundle?: string; policies: string; config?: string; output: string }) => {
      const workflow = await workflowFrom(file);
      const ctx = evalPodContext(await runnerConfig(opts.config, env));
      const engine = await engineFor(opts.bundle, opts.policies);
      const results = workflow.steps.map((step) => {
        const r = evaluate(policyInput(ctx.runner, workflow, step, buildPod(workflow, step, ctx)), engine);
        const decision = r.kind === 'error' ? undefined : r.decision;
        const code = r.kind === 'allow' ? undefined : r.kind === 'deny' ? denial(r.decision).code : r.error.code;
        return { step: step.name, allow: r.kind === 'allow', code, decision };
      });
      if (opts.output === 'json') io.out(JSON.stringify({ revision: engine.revision, steps: results }, null, 2));
      else {
        io.out(`policy revision ${engine.revision}`);
        for (const r of results) {
          io.out(
            `step ${r.step}: ${r.allow ? paint('green', 'allowed') : paint('red', r.code === 'POLICY_DENIED' ? 'denied' : `error ${r.code ?? ''}`)}`,
          );
          for (const v of r.decision?.violations ?? [])
            io.out(
              `  ${(v.action === 'deny' ? paint('red', v.action) : paint('yellow', v.action)).padEnd(io.color ? 13 : 5)} ${v.code.padEnd(34)} ${v.path.padEnd(40)} ${v.message}`,
            );
        }
      }
      setCode(results.every((r) => r.allow) ? EXIT.ok : EXIT.failed);
    });

  policy
    .command('replay')
    .description(
      're-evaluate the inputs recorded in an audit log against a candidate bundle and show what would change',
    )
    .requiredOption('--audit <dir>', 'audit directory')
    .option('--bundle <file>', 'candidate bundle (default: build policies/ now)')
    .option('--policies <dir>', 'policy directory to build when no --bundle is given', DEFAULT_POLICIES)
    .addOption(outputOption())
    .addOption(new Option('--fail-on-new-denies', 'exit 1 when the candidate denies something that was allowed'))
    .option(
      '--public-key <file>',
      'PEM public key of the audit checkpoint signer (the log is verified first; nothing after a break is replayed, and the exit code is 1)',
    )
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy replay --audit /var/lib/kubiya/audit --bundle /tmp/candidate.tar.gz',
        'kubiya-runner policy replay --audit .kubiya/demo/audit --output json',
      ),
    )
    .action(
      async (opts: {
        audit: string;
        bundle?: string;
        policies: string;
        output: string;
        failOnNewDenies?: boolean;
        publicKey?: string;
      }) => {
        // Only records before the first break of the chain are replayed (the log is verified first).
        const key = await publicKey(opts.publicKey);
        const log = await readTrusted(opts.audit, key, (r) => r.stage === 'evaluate').catch((e: unknown) => {
          throw new CliError(
            'AUDIT_READ_FAILED',
            `cannot read the audit log in ${opts.audit}: ${e instanceof Error ? e.message : String(e)}`,
          );
        });
        const notice = breakNotice(log);
        const engine = await engineFor(opts.bundle, opts.policies);
        const report = replay(log.records, engine, io.color ? (n) => io.err(`replayed ${n} decisions ...`) : undefined);
        const audit = {
          intact: log.report.ok,
          records: log.report.records,
          untrusted: log.untrusted,
          ...(log.report.firstBad !== undefined ? { firstBad: log.report.firstBad } : {}),
        };
        if (notice !== undefined) io.err(paint('red', notice));
        if (opts.output === 'json') io.out(JSON.stringify({ ...report, audit }, null, 2));
        else {
          io.out(
            `candidate ${report.candidate}: ${report.replayed} recorded decisions replayed, ${report.unchanged} unchanged`,
          );
          io.out(
            `${paint(report.newlyDenied.length > 0 ? 'red' : 'green', `${report.newlyDenied.length} newly denied`)}, ${paint('yellow', `${report.newlyAllowed.length} newly allowed`)}`,
          );
          for (const c of report.newlyDenied)
            io.out(`  denied  ${c.workflow}/${c.step}  ${c.after.join(', ')}  (decision ${c.decision_id})`);
          for (const c of report.newlyAllowed)
            io.out(`  allowed ${c.workflow}/${c.step}  was ${c.before.join(', ')}  (decision ${c.decision_id})`);
          const rows = Object.entries(report.codes).sort(([a], [b]) => a.localeCompare(b));
          if (rows.length > 0) io.out('deny codes    before  after');
          for (const [code, n] of rows)
            io.out(`  ${code.padEnd(36)} ${String(n.before).padStart(5)}  ${String(n.after).padStart(5)}`);
        }
        setCode(
          notice !== undefined || (opts.failOnNewDenies === true && report.newlyDenied.length > 0)
            ? EXIT.failed
            : EXIT.ok,
        );
      },
    );
  return policy;
}
