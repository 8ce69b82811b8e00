import { Command } from 'commander';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';

export function demoCommand(io: Io, setCode: (c: number) => void): Command {
  return new Command('demo')
    .description(
      'run the demo: a local control plane, a runner, and signed steps that are allowed, denied, forged and failing',
    )
    .addOption(outputOption())
    .option('--real-node', 'run the steps on a real node (containerd + kubelet; root only, see docs/real-node.md)')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner demo',
        'kubiya-runner demo --output json | jq .cases',
        'sudo kubiya-runner demo --real-node',
      ),
    )
    .action(async (opts: { output: string; realNode?: boolean }) => {
      const { runDemo } = await import('../dev/demo.ts');
      const json = opts.output === 'json';
      let result;
      try {
        result = await runDemo(
          json ? (line) => io.err(line) : io.out,
          painter(json ? { ...io, color: false } : io),
          undefined,
          opts.realNode === true,
        );
      } catch (e) {
        // A real node's lock that must stay (src/dev/node/left.ts RealNodeLocked) keeps its own code.
        const locked = e instanceof Error && 'code' in e && e.code === 'REAL_NODE_LOCKED';
        throw new CliError(
          e instanceof CliError ? e.code : locked ? 'REAL_NODE_LOCKED' : 'CLUSTER_START_FAILED',
          e instanceof Error ? e.message : String(e),
        );
      }
      if (json) io.out(JSON.stringify(result, null, 2));
      else io.out(result.ok ? '\ndemo: every case ended as expected' : '\ndemo: some cases did NOT end as expected');
      setCode(result.ok ? EXIT.ok : EXIT.failed);
    });
}
