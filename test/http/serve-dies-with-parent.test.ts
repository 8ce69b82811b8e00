/**
 * The class: a `kubiya-runner serve` started by test support (startServe: the http and cluster
 * tiers, the bench, scripts) outlives the process that started it when that process ends without
 * stopping it — a test file killed on its timeout, a bench stopped by a signal, a script that forgot
 * (seen on 3 December: a serve left by a probe script ran for ~2.5 h with PPID 1). Every ending
 * signal of the starting process is tried, SIGKILL included (no handler runs): the serve must be
 * gone within 3 s. Real processes: a real serve against the loopback API stand-in.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
import { anyProcessNames, noneNamesWithin } from '../support/process-scan.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const holder = join(import.meta.dirname, '..', 'support', 'attached-holder.ts');

let api: ApiStandIn;
let bundle: string;
let base: string;

before(async () => {
  api = await apiStandIn();
  base = await mkdtemp(join(tmpdir(), 'kubiya-serve-parent-'));
  bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(base, 'bundle.tar.gz'))).file;
});
after(async () => {
  api.close();
  await rm(base, { recursive: true, force: true });
});

describe('a serve started by test support dies with the process that started it', () => {
  for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    test(`${signal} to the starting process: no serve left`, async () => {
      const dir = await mkdtemp(join(base, `${signal}-`));
      let pids: number[] = [];
      try {
        await writeFile(join(dir, 'kubeconfig'), api.kubeconfig);
        await copyFile(bundle, join(dir, 'bundle.tar.gz'));
        await writeFile(
          join(dir, 'jwks.json'),
          JSON.stringify({
            keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
          }),
        );
        const p = spawn(process.execPath, [holder, 'serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
        const [line] = (await once(p.stdout, 'data')) as [Buffer];
        pids = (JSON.parse(line.toString()) as { pids: number[] }).pids;
        assert.equal(pids.length, 1);
        assert.equal(anyProcessNames(dir), true, 'the serve runs');
        p.kill(signal);
        const [, by] = (await once(p, 'exit')) as [number | null, NodeJS.Signals | null];
        assert.equal(by, signal, 'the starting process ends by the signal');
        assert.equal(await noneNamesWithin(dir, 3000), true, 'no serve left');
      } finally {
        for (const pid of pids)
          try {
            process.kill(pid, 'SIGKILL'); // only when the assertion above failed: not left for the next test
          } catch {
            // gone, as it should be
          }
        await rm(dir, { recursive: true, force: true });
      }
    });
});
