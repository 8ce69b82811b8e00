import { Command } from 'commander';
import { startControlPlane, type ReferenceControlPlane } from '../dev/control-plane.ts';
import { readWorkflowArg } from './dev-workflow.ts';
import { untilStopSignal, type Io } from './io.ts';
import { examples } from './options.ts';

interface ControlPlaneOptions {
  readonly port: number;
  readonly token: string;
  readonly runner: string;
  readonly assign?: string[];
}

/** `dev control-plane`: the reference control plane of src/dev/control-plane.ts, until SIGINT/SIGTERM. */
export function controlPlaneCommand(io: Io): Command {
  return new Command('control-plane')
    .description('run the reference control plane: JWKS, signed assignments by long-poll, recorded step events')
    .option('--port <port>', 'listen port (127.0.0.1)', (v) => Number(v), 8090)
    .requiredOption('--token <token>', 'the runner token it accepts')
    .option('--runner <name>', 'the runner to queue --assign files for', 'production-runner')
    .option('--assign <files...>', 'workflow YAML files to sign and queue at start')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev control-plane --token dev-token --runner production-runner --assign examples/python-analyze.yaml examples/node-build.yaml',
      ),
    )
    .action((opts: ControlPlaneOptions) => runControlPlane(io, opts));
}

/** Start it, queue the --assign files, print step events every 500 ms until stopped. */
async function runControlPlane(io: Io, opts: ControlPlaneOptions): Promise<void> {
  const cp = await startControlPlane({ token: opts.token, port: opts.port });
  io.out(`reference control plane on ${cp.url}\n  issuer   ${cp.issuer}\n  jwksUrl  ${cp.url}/.well-known/jwks.json`);
  for (const f of opts.assign ?? []) {
    await cp.assign(opts.runner, await readWorkflowArg(f));
    io.out(`queued ${f} for ${opts.runner}`);
  }
  let shown = 0;
  const timer = setInterval(() => {
    for (const e of cp.events.slice(shown)) io.out(eventLine(e));
    shown = cp.events.length;
  }, 500);
  await untilStopSignal();
  clearInterval(timer);
  await cp.close();
}

function eventLine(e: ReferenceControlPlane['events'][number]): string {
  return `event ${e.time} ${e.workflow}${e.step !== undefined ? `/${e.step}` : ''} ${e.phase}${e.code !== undefined ? ` ${e.code}` : ''}${e.exitCode !== undefined ? ` exit=${e.exitCode}` : ''}`;
}
