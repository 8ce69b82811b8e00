import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { dyingWithParent } from '../../src/dev/processes.ts';
import { childEnd } from './child-end.ts';

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly base: string;
  readonly lines: Record<string, unknown>[];
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `kubiya-runner serve` as a real process and resolves once it listens (its "runner
 * listening" log line). Rejects when it exits first, or after 30 s — then it is killed first, so a
 * failed start leaves no process behind. Each stdout line is kept parsed (`{ unparsed }` if not JSON).
 * The serve gets SIGKILL when the calling process ends, however it ends (`dyingWithParent`).
 */
export async function startServe(
  config: Record<string, unknown>,
  work: string,
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const file = join(work, `runner-${Date.now()}.yaml`);
  await writeFile(file, stringify(config));
  // It dies with the process that started it, however that ends (a test file killed on timeout, a
  // bench or a script that forgot to stop it): a serve left running holds ports, files and CPU.
  const [bin, argv] = dyingWithParent(process.execPath, [
    join(REPO_ROOT, 'bin', 'kubiya-runner.js'),
    'serve',
    '--config',
    file,
  ]);
  const child = spawn(bin, argv, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let err = '';
  let buffered = '';
  // Its end once its stdout and stderr are read to the end ('close'), so `lines` and `stderr()` are whole then.
  const exited = childEnd(child).then((end) => end.code);
  let listening = false;
  const port = await new Promise<number>((resolve, reject) => {
    // Not left running behind a failed start: killed when it does not listen within 30 s. Only
    // while it has not listened (a started serve outlives 30 s in most tests).
    const tooLong = setTimeout(() => {
      if (listening) return;
      child.kill('SIGKILL');
      reject(new Error(`serve did not listen within 30 s: ${err}`));
    }, 30_000);
    tooLong.unref();
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const p of parts) {
        if (p.trim() === '') continue;
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(p) as Record<string, unknown>;
        } catch {
          line = { unparsed: p }; // a line that is not JSON is kept, not thrown from the stream handler
        }
        lines.push(line);
        if (line.message === 'runner listening' && !listening) {
          listening = true;
          clearTimeout(tooLong);
          resolve(Number(line.port));
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then((code) => {
      clearTimeout(tooLong);
      reject(new Error(`serve exited with ${String(code)} before listening: ${err}`));
    });
  });
  return { child, base: `http://127.0.0.1:${port}`, lines, stderr: () => err, exited };
}
