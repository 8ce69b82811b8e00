import { Command } from 'commander';
import { startBundleServer } from '../dev/bundle-server.ts';
import { untilStopSignal, type Io } from './io.ts';
import { examples } from './options.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from '../adapters/operator-file.ts';

/** `dev bundle-server <dir>`: the loopback bundle service of src/dev/bundle-server.ts, until SIGINT/SIGTERM. */
export function bundleServerCommand(io: Io): Command {
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
        opts.bearerTokenFile === undefined
          ? undefined
          : (await readOperatorText(opts.bearerTokenFile, OPERATOR_FILE_MAX_BYTES.secret)).trim();
      const server = await startBundleServer(dir, opts.port, token === undefined ? {} : { bearerToken: token });
      io.out(`bundle server on ${server.url}: ${server.url}/<file> serves ${dir}/<file>`);
      await untilStopSignal();
      await server.close();
    });
}
