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
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { anyProcessNames, noneNamesWithin } from '../support/process-scan.ts';
import { serveWork, writeServeFiles, type ServeWork } from '../support/serve-work.ts';

const holder = join(import.meta.dirname, '..', 'support', 'attached-holder.ts');

let w: ServeWork;

before(async () => {
  w = await serveWork('kubiya-serve-parent-');
});
after(() => w.close());

describe('a serve started by test support dies with the process that started it', () => {
  for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    test(`${signal} to the starting process: no serve left`, async () => {
      const dir = await mkdtemp(join(w.dir, `${signal}-`));
      let pids: number[] = [];
      try {
        await writeServeFiles(dir, w.api.kubeconfig, join(w.dir, 'bundle.tar.gz'));
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
        // Only when the assertion above failed (a process still names `dir`): not left for the next test.
        if (anyProcessNames(dir))
          for (const pid of pids)
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone meanwhile
            }
        await rm(dir, { recursive: true, force: true });
      }
    });
});
