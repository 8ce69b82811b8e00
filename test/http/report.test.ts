import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { main } from '../../src/cli/main.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const CHROMIUM = '/usr/bin/chromium';

function requireChromium(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`);
  }
}

test('audit report: one self-contained HTML page whose charts render in headless Chromium without console errors', async () => {
  requireChromium();
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-report-'));
  try {
    const log = await FileAuditLog.open(join(dir, 'audit'));
    const start = Date.parse('2026-11-01T00:00:00Z');
    for (let i = 0; i < 120; i++) {
      const denied = i % 4 === 0;
      const e: AuditEntry = {
        decision_id: `d${i}`,
        timestamp: new Date(start + i * 60_000).toISOString(),
        stage: 'evaluate',
        outcome: denied ? 'deny' : 'allow',
        ...(denied ? { code: 'POLICY_DENIED' as const } : {}),
        message: `<script>alert(${i})</script>`,
        runner: 'r',
        labels: {},
        workflow: { id: `wf-${i % 7}`, runId: 'r' },
        step: 's',
        input: { step: { image: i % 3 === 0 ? 'aquasec/trivy:latest' : 'python:3.11' } },
        result: {
          allow: !denied,
          violations: denied ? [{ code: 'IMAGE_TAG_NOT_PINNED', policy: 'images', action: 'deny' }] : [],
        },
      };
      await log.append(e);
    }
    await log.close();
    const out = join(dir, 'report.html');
    const lines: string[] = [];
    const code = await main(
      ['audit', 'report', join(dir, 'audit'), '--out', out],
      { out: (l) => lines.push(l), err: (l) => lines.push(l), color: false },
      {},
    );
    assert.equal(code, 0, lines.join('\n'));
    const html = await readFile(out, 'utf8');
    assert.ok(
      !/<script|https?:\/\/(?!www\.w3\.org)/i.test(html.replace(/&lt;script&gt;/g, '')),
      'no scripts, no network references',
    );

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 1400 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      await page.goto(`file://${out}`);
      assert.match((await page.textContent('#verification-status')) ?? '', /^Intact: 120 records/);
      assert.ok((await page.locator('#timeline rect').count()) >= 10, 'decisions over time has columns');
      assert.equal(await page.locator('#deny-codes rect').count(), 2, 'POLICY_DENIED and IMAGE_TAG_NOT_PINNED');
      assert.equal(await page.locator('#images rect').count(), 2);
      assert.equal(await page.locator('#policies rect').count(), 1);
      const box = await page.locator('#timeline').boundingBox();
      assert.ok(box !== null && box.width > 600 && box.height > 150, 'the chart has its size on the page');
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await stat(shot)).size > 10_000, 'the screenshot has content');
      assert.deepEqual(problems, [], 'no console errors, no injected script ran');
    } finally {
      await browser.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
