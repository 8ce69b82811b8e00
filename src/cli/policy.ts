import { Command } from 'commander';
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { ChartRenderError, renderBakedSettings } from '../adapters/chart-settings.ts';
import { buildBundle } from '../adapters/bundle-build.ts';
import type { BakedSettings } from '../policy/bake.ts';
import { denial, evaluate, policyInput } from '../evaluate/evaluate.ts';
import { algorithmOf, signingKeyFromPem } from '../policy/bundle-signature.ts';
import { podContextOf } from '../policy/pod-context.ts';
import { buildPod } from '../pod/build.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';
import { replayCommand } from './policy-replay.ts';
import {
  buildFailure,
  DEFAULT_POLICIES,
  engineFor,
  runnerConfig,
  settingsSource,
  sourceOptions,
  toolPath,
  workflowFrom,
  type SourceOptions,
} from './policy-source.ts';
import { testCommand } from './policy-test.ts';
import type { Env } from './serve.ts';
import { statusLines } from './status-lines.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText, whyUnreadable } from '../adapters/operator-file.ts';

/** The PEM private key of --signing-key. */
async function signingKey(file: string): Promise<KeyObject> {
  const pem = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.secret).catch((e: unknown) => {
    throw new CliError('CONFIG_INVALID', whyUnreadable(file, e));
  });
  try {
    const key = signingKeyFromPem(pem);
    algorithmOf(key);
    return key;
  } catch (e) {
    throw new CliError(
      'CONFIG_INVALID',
      `${file}: not a signing key this runner verifies (EC P-256/P-384, Ed25519, RSA): ${(e as Error).message}`,
    );
  }
}

interface BuildCliOptions {
  policies: string;
  out: string;
  output: string;
  fixtures?: string;
  signingKey?: string;
  values?: string[];
  data?: string;
}

/**
 * The settings `policy build --values|--data` bakes into the bundle: the policy data file the
 * chart renders from the values files (exactly as `helm install -f` would; src/adapters/chart-settings.ts
 * renderBakedSettings), or a data file's text.
 */
async function bakedSettings(opts: BuildCliOptions): Promise<BakedSettings | undefined> {
  if (opts.values !== undefined && opts.data !== undefined)
    throw new CliError('CONFIG_INVALID', '--values and --data both give the settings: use one');
  if (opts.values !== undefined) {
    const dataText = await renderBakedSettings(
      toolPath('helm'),
      opts.values.map((f) => resolve(f)),
    ).catch((e: unknown) => {
      throw e instanceof ChartRenderError ? new CliError(e.code, e.message) : new CliError('CONFIG_INVALID', String(e));
    });
    return { label: `chart values ${opts.values.join(', ')}`, dataText };
  }
  if (opts.data === undefined) return undefined;
  const file = opts.data;
  const dataText = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.policy).catch((e: unknown) => {
    throw new CliError('CONFIG_INVALID', whyUnreadable(file, e));
  });
  return { label: file, dataText };
}

/** `policy build`: the WASM bundle, checked against the fixtures, optionally signed. */
function buildCommand(io: Io): Command {
  return new Command('build')
    .description('compile the policies to a WASM bundle (opa build -t wasm) with a content-hash revision')
    .option('--policies <dir>', 'policy directory', DEFAULT_POLICIES)
    .option('--out <file>', 'bundle file', 'bundle.tar.gz')
    .option(
      '--fixtures <dir>',
      'fixture suites evaluated before the bundle is written (default: policy-fixtures beside the policy directory)',
    )
    .option('--signing-key <pem>', "sign the bundle (OPA's .signatures.json) with this PEM private key")
    .option(
      '--values <file...>',
      "bake the policy settings the chart renders from these Helm values files into the bundle's data (before signing)",
    )
    .option('--data <file>', "bake this data file's kubiya.settings into the bundle's data (before signing)")
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy build --out /tmp/bundle.tar.gz',
        'kubiya-runner policy build --policies ./my-policies --output json',
        'kubiya-runner policy build --out /tmp/bundle.tar.gz --signing-key bundle-signing.pem --values my-values.yaml',
      ) +
        "\nA runner with policy.verificationKeys decides with the signed bundle's settings only: bake them in with --values (or --data).",
    )
    .action(async (opts: BuildCliOptions) => {
      const say = await statusLines(io, [opts.out]);
      const settings = await bakedSettings(opts);
      const options = {
        ...(opts.fixtures !== undefined ? { fixtures: resolve(opts.fixtures) } : {}),
        ...(opts.signingKey !== undefined ? { signingKey: await signingKey(opts.signingKey) } : {}),
        ...(settings !== undefined ? { settings } : {}),
      };
      const built = await buildBundle(toolPath('opa'), resolve(opts.policies), resolve(opts.out), options).catch(
        buildFailure,
      );
      say.out(opts.output === 'json' ? JSON.stringify(built) : `built ${built.file} (revision ${built.revision})`);
    });
}

/** The policy commands; `env` is the environment `serve` would read its overrides from. */
export function policyCommands(io: Io, setCode: (c: number) => void, env: Env = {}): Command {
  const paint = painter(io);
  const policy = new Command('policy').description('build, test, evaluate and replay the Rego policies');
  policy.addCommand(buildCommand(io));
  policy.addCommand(testCommand(io, setCode, env));

  const evalCmd = policy
    .command('eval <file>')
    .description('evaluate a step (or every step of a workflow file) and print the decision with its reasons')
    .option('--bundle <file>', 'policy bundle (default: build policies/ now)')
    .option('--policies <dir>', 'policy directory to build when no --bundle is given', DEFAULT_POLICIES)
    .option(
      '--config <file>',
      'runner configuration to build the pods with, as serve does (default: the one --values renders, else the configuration defaults)',
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy eval examples/denied/trivy-latest.yaml',
        'kubiya-runner policy eval step.yaml --bundle /tmp/candidate.tar.gz --values my-values.yaml',
        'kubiya-runner policy eval step.yaml --bundle /tmp/candidate.tar.gz --config /etc/kubiya/runner.yaml --output json',
      ) + '\neval: 0 every step allowed, 1 a step denied or its evaluation failed (the runner would deny it).',
    );
  for (const o of sourceOptions()) evalCmd.addOption(o);
  evalCmd.action(
    async (
      file: string,
      opts: SourceOptions & { bundle?: string; policies: string; config?: string; output: string },
    ) => {
      const workflow = await workflowFrom(file);
      const source = await settingsSource(opts);
      const ctx = podContextOf(await runnerConfig(opts.config, env, source));
      const engine = await engineFor(opts.bundle, opts.policies, source, {}, opts);
      const results = workflow.steps.map((step) => {
        const r = evaluate(policyInput(ctx.runner, workflow, step, buildPod(workflow, step, ctx)), engine);
        const decision = r.kind === 'error' ? undefined : r.decision;
        const failure = r.kind === 'allow' ? undefined : r.kind === 'deny' ? denial(r.decision) : r.error;
        const error = failure === undefined ? {} : { code: failure.code, message: failure.message };
        return { step: step.name, allow: r.kind === 'allow', ...error, decision };
      });
      if (opts.output === 'json') io.out(JSON.stringify({ revision: engine.revision, steps: results }, null, 2));
      else {
        io.out(`policy revision ${engine.revision}${source !== undefined ? ` (settings: ${source.label})` : ''}`);
        for (const r of results) {
          const verdict = r.allow
            ? paint('green', 'allowed')
            : paint('red', r.code === 'POLICY_DENIED' ? 'denied' : `error ${r.code ?? ''}: ${r.message ?? ''}`);
          io.out(`step ${r.step}: ${verdict}`);
          for (const v of r.decision?.violations ?? [])
            io.out(
              `  ${(v.action === 'deny' ? paint('red', v.action) : paint('yellow', v.action)).padEnd(io.color ? 13 : 5)} ${v.code.padEnd(34)} ${v.path.padEnd(40)} ${v.message}`,
            );
        }
      }
      setCode(results.every((r) => r.allow) ? EXIT.ok : EXIT.failed);
    },
  );

  policy.addCommand(replayCommand(io, setCode));
  return policy;
}
