import { startBundleServer } from '../dev/bundle-server.ts';
import { Command } from 'commander';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { REPO_ROOT, resolveTools } from '../adapters/tools.ts';
import { startCluster, stopClusterState, type ClusterState } from '../dev/cluster.ts';
import { startControlPlane } from '../dev/control-plane.ts';
import { startRealNode } from '../dev/node/node.ts';
import type { RealNodeState } from '../dev/node/state.ts';
import { stopRealNodeState } from '../dev/node/node-down.ts';
import { realNodeMissing, REAL_NODE_TOOLS } from '../dev/node/prerequisites.ts';
import { loadOrCreateKey } from '../dev/key-file.ts';
import { signAssignment } from '../dev/sign.ts';
import { readWorkflowFile } from '../dev/workflow-file.ts';
import { CliError, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';

const DEFAULT_DIR = join(REPO_ROOT, '.kubiya', 'cluster');
const stateFile = (dir: string): string => join(dir, 'state.json');

type UpState = ClusterState & { readonly realNode?: RealNodeState };

async function readState(dir: string): Promise<UpState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as UpState;
  } catch {
    return undefined;
  }
}

export function devCommands(io: Io): Command {
  const dev = new Command('dev').description('local development: control plane, signing');
  const cluster = new Command('cluster').description('a local Kubernetes control plane: etcd + kube-apiserver + kwok');
  cluster
    .command('up')
    .description('start it in the background; writes <dir>/kubeconfig')
    .option('--dir <dir>', 'where its data, logs, kubeconfig and state live', DEFAULT_DIR)
    .option('--real-node', 'also start a real node (containerd + kubelet, root only; see docs/real-node.md)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev cluster up',
        'export KUBECONFIG=$(kubiya-runner dev cluster up --output json | jq -r .kubeconfig)',
        'sudo kubiya-runner dev cluster up --real-node   # workflow steps then run for real',
      ),
    )
    .action(async (opts: { output: string; dir: string; realNode?: boolean }) => {
      if ((await readState(opts.dir)) !== undefined)
        throw new CliError(
          'CLUSTER_START_FAILED',
          'a local control plane is already up (run "kubiya-runner dev cluster down" first)',
        );
      const tools = resolveTools([
        'etcd',
        'kube-apiserver',
        'kube-scheduler',
        'kube-controller-manager',
        'kwok',
        'helm',
      ]);
      if (!tools.ok) throw new CliError(tools.error.code, tools.error.message);
      const missing = opts.realNode === true ? realNodeMissing() : [];
      if (missing.length > 0)
        throw new CliError('REAL_NODE_UNAVAILABLE', `no real node here:\n  ${missing.join('\n  ')}`);
      io.err('starting etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok ...');
      await rm(opts.dir, { recursive: true, force: true });
      await mkdir(opts.dir, { recursive: true });
      let c;
      try {
        c = await startCluster({ tools: tools.value, dir: opts.dir, detached: true });
      } catch (e) {
        throw new CliError(
          'CLUSTER_START_FAILED',
          `${e instanceof Error ? e.message : String(e)}\nlogs are kept in ${opts.dir}`,
          1,
        );
      }
      let realNode: RealNodeState | undefined;
      if (opts.realNode === true) {
        const nodeTools = resolveTools(REAL_NODE_TOOLS);
        if (!nodeTools.ok) throw new CliError(nodeTools.error.code, nodeTools.error.message);
        try {
          const n = await startRealNode({
            kubeconfig: c.kubeconfig,
            dir: join(opts.dir, 'node'),
            tools: nodeTools.value,
            namespaces: [c.workflowsNamespace],
            detached: true,
            say: (l) => io.err(l),
          });
          realNode = { dir: n.dir, kubeconfig: n.kubeconfig, tools: n.tools, pids: n.pids, timings: n.timings };
        } catch (e) {
          await stopClusterState(c, false);
          throw new CliError(
            'REAL_NODE_UNAVAILABLE',
            `${e instanceof Error ? e.message : String(e)}\nlogs are kept in ${opts.dir}`,
            1,
          );
        }
      }
      const state: UpState = {
        dir: c.dir,
        kubeconfig: c.kubeconfig,
        server: c.server,
        workflowsNamespace: c.workflowsNamespace,
        runnerNamespace: c.runnerNamespace,
        pids: c.pids,
        startedMs: c.startedMs,
        ...(realNode !== undefined ? { realNode } : {}),
      };
      await writeFile(stateFile(opts.dir), JSON.stringify(state, null, 2));
      io.out(
        opts.output === 'json'
          ? JSON.stringify(state)
          : `local control plane ready in ${(c.startedMs / 1000).toFixed(1)} s\n  server     ${c.server}\n  kubeconfig ${c.kubeconfig}\n  export KUBECONFIG=${c.kubeconfig}${realNode !== undefined ? `\n  real node  ready in ${String(realNode.timings.total)} s; pods in ${c.workflowsNamespace} run on it` : ''}`,
      );
    });
  cluster
    .command('down')
    .description('stop the local control plane and remove its files')
    .option('--dir <dir>', 'the directory given to "up"', DEFAULT_DIR)
    .addHelpText('after', examples('kubiya-runner dev cluster down'))
    .action(async (opts: { dir: string }) => {
      const state = await readState(opts.dir);
      if (state === undefined) {
        io.out('no local control plane is up');
        return;
      }
      if (state.realNode !== undefined) {
        const left = await stopRealNodeState(state.realNode);
        for (const l of left) io.err(`real node: host differs from before: ${l}`);
        io.out(left.length === 0 ? 'real node stopped; host restored' : 'real node stopped; see the differences above');
      }
      await stopClusterState(state, false);
      await rm(opts.dir, { recursive: true, force: true });
      io.out('local control plane stopped and removed');
    });
  dev.addCommand(cluster);
  dev
    .command('sign <workflow>')
    .description('mint one signed assignment (compact JWS) from a workflow YAML file, as the control plane would')
    .option(
      '--key <file>',
      'signing key (private JWK); created with <file>.jwks.json beside it when missing',
      join(REPO_ROOT, '.kubiya', 'control-plane', 'signing-key.json'),
    )
    .option('--issuer <iss>', 'issuer (controlPlane.issuer of the runner)', 'https://control-plane.kubiya.local')
    .option('--audience <runner>', 'the runner it is for (runner.name)', 'production-runner')
    .option('--ttl <seconds>', 'lifetime', (v) => Number(v), 300)
    .option('--jti <id>', 'assignment id (default: random)')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev sign examples/python-analyze.yaml --audience production-runner > token.jwt',
        'curl -X POST -H "content-type: application/jwt" --data-binary "$(cat token.jwt)" http://localhost:8080/v1/assignments   # $(...) drops the final newline: tokens are sent exactly as signed',
      ),
    )
    .action(
      async (
        workflowFile: string,
        opts: { key: string; issuer: string; audience: string; ttl: number; jti?: string },
      ) => {
        let workflow;
        try {
          workflow = await readWorkflowFile(workflowFile);
        } catch (e) {
          throw new CliError('VALIDATE_SCHEMA', e instanceof Error ? e.message : String(e));
        }
        await mkdir(dirname(opts.key), { recursive: true });
        const { key, created, jwksFile } = await loadOrCreateKey(opts.key);
        if (created) io.err(`created signing key ${opts.key}; runners trust ${jwksFile}`);
        io.out(
          await signAssignment(key, {
            issuer: opts.issuer,
            audience: opts.audience,
            workflow,
            ttlSeconds: opts.ttl,
            ...(opts.jti !== undefined ? { jti: opts.jti } : {}),
          }),
        );
      },
    );
  dev.addCommand(bundleServerCommand(io));
  dev
    .command('control-plane')
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
    .action(async (opts: { port: number; token: string; runner: string; assign?: string[] }) => {
      const cp = await startControlPlane({ token: opts.token, port: opts.port });
      io.out(
        `reference control plane on ${cp.url}\n  issuer   ${cp.issuer}\n  jwksUrl  ${cp.url}/.well-known/jwks.json`,
      );
      for (const f of opts.assign ?? []) {
        let wf;
        try {
          wf = await readWorkflowFile(f);
        } catch (e) {
          throw new CliError('VALIDATE_SCHEMA', e instanceof Error ? e.message : String(e));
        }
        await cp.assign(opts.runner, wf);
        io.out(`queued ${f} for ${opts.runner}`);
      }
      let shown = 0;
      const timer = setInterval(() => {
        for (const e of cp.events.slice(shown))
          io.out(
            `event ${e.time} ${e.workflow}${e.step !== undefined ? `/${e.step}` : ''} ${e.phase}${e.code !== undefined ? ` ${e.code}` : ''}${e.exitCode !== undefined ? ` exit=${e.exitCode}` : ''}`,
          );
        shown = cp.events.length;
      }, 500);
      process.removeAllListeners('SIGINT');
      process.removeAllListeners('SIGTERM');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      clearInterval(timer);
      await cp.close();
    });
  return dev;
}

/** `dev bundle-server <dir>`: the loopback bundle service of src/dev/bundle-server.ts, until SIGINT/SIGTERM. */
function bundleServerCommand(io: Io): Command {
  return new Command('bundle-server')
    .argument('<dir>', 'directory whose files are served (e.g. bundle.tar.gz from policy build)')
    .description('serve policy bundles over HTTP like an OPA bundle service (ETag / If-None-Match), on 127.0.0.1')
    .option('--port <port>', 'listen port (127.0.0.1)', (v) => Number(v), 8091)
    .option('--bearer-token-file <file>', 'require Authorization: Bearer <the token in this file> (else 401)')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner dev bundle-server /tmp/bundles --port 8091',
        '# runner.yaml: policy: { bundle: /tmp/kubiya/bundle.tar.gz, service: { url: http://127.0.0.1:8091/bundle.tar.gz } }',
      ),
    )
    .action(async (dir: string, opts: { port: number; bearerTokenFile?: string }) => {
      const token =
        opts.bearerTokenFile === undefined ? undefined : (await readFile(opts.bearerTokenFile, 'utf8')).trim();
      const server = await startBundleServer(dir, opts.port, token === undefined ? {} : { bearerToken: token });
      io.out(`bundle server on ${server.url}: ${server.url}/<file> serves ${dir}/<file>`);
      process.removeAllListeners('SIGINT');
      process.removeAllListeners('SIGTERM');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
    });
}
