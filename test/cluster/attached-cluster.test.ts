import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireTools } from '../support/cluster.ts';
import { anyProcessNames, noneNamesWithin } from '../support/process-scan.ts';

const holder = join(import.meta.dirname, '..', 'support', 'attached-holder.ts');

/**
 * Red team 5, finding 6, with a real control plane: a process holding an attached cluster (a test
 * file, the demo) that is ended by SIGTERM (the reported case: a cancelled test run or CI job) or by
 * SIGKILL leaves none of etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok
 * running; on SIGTERM its temp directory is removed too (on SIGKILL the next attached start removes
 * it: test/unit/attached-children.test.ts). test/unit/attached-children.test.ts has every signal.
 */
for (const signal of ['SIGTERM', 'SIGKILL'] as const)
  test(`an attached control plane dies with its process on ${signal}`, async () => {
    requireTools();
    const p = spawn(process.execPath, [holder, 'cluster'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let dir: string | undefined;
    try {
      const [line] = (await once(p.stdout, 'data')) as [Buffer];
      const held = JSON.parse(line.toString()) as { dir: string; pids: number[] };
      dir = held.dir;
      assert.equal(held.pids.length, 5);
      assert.equal(anyProcessNames(dir), true, 'the control plane runs');
      p.kill(signal);
      await once(p, 'exit');
      assert.equal(await noneNamesWithin(dir, 3000), true, 'no process of it is left');
      if (signal === 'SIGTERM') assert.equal(existsSync(dir), false, 'its directory is removed');
    } finally {
      p.kill('SIGKILL');
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  });
