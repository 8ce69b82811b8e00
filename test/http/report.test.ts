/**
 * The compliance report, read in a real browser (Debian's Chromium through playwright-core) the way
 * an auditor reads it: the verification of each chain, the policy revisions, the rows of the
 * denials-and-errors table (values, not only that a table exists), sorting and filtering it, the
 * drill-down of a run, and the marking of a broken chain whose records after the break are
 * nowhere on the page.
 *
 * Hostile strings, as a class: every field the page renders that a workflow's signer chooses
 * (workflow id, run id, step, image, violation message and code, policy, decision id, revision,
 * pod name, the patch, the runner's labels) holds an HTML/script payload; none may run (no dialog,
 * no console error, one script element: the page's own), each must be shown as text, and the CSP
 * must forbid any remote load.
 */
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { main } from '../../src/cli/main.ts';

const CHROMIUM = '/usr/bin/chromium';

function requireChromium(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`);
  }
}

/** One payload per rendered field: each would run a dialog if it were markup. */
const X = {
  workflow: '"><script>alert("wf")</script>',
  run: "'><img src=x onerror=alert('run')>",
  step: '</td><svg onload=alert("step")>',
  image: 'evil.io/<img src=x onerror=alert(1)>:1',
  message: '<iframe src="javascript:alert(`msg`)"></iframe>',
  code: '<b onmouseover=alert(5)>CODE</b>',
  policy: '<style>body{display:none}</style>',
  decision: '<a href="javascript:alert(6)">d</a>',
  revision: 'rev-<script>alert(7)</script>',
  runner: 'runner-<img src=x onerror=alert(8)>',
};

const T = (min: number): string => new Date(Date.parse('2026-11-01T00:00:00Z') + min * 60_000).toISOString();
const base = (runner: string, min: number, id: string): Omit<AuditEntry, 'stage' | 'outcome' | 'message'> => ({
  decision_id: id,
  timestamp: T(min),
  runner,
  labels: { runner },
});
const wf = (id: string, runId: string) => ({ id, runId, jti: `jti-${runId}` });
const evaluate = (
  runner: string,
  min: number,
  id: string,
  w: { id: string; runId: string },
  step: string,
  image: string,
  revision: string,
  violations: { code: string; policy: string; message: string }[],
): AuditEntry => ({
  ...base(runner, min, id),
  stage: 'evaluate',
  outcome: violations.length > 0 ? 'deny' : 'allow',
  ...(violations.length > 0 ? { code: 'POLICY_DENIED' as const } : {}),
  message:
    violations.length > 0
      ? `step denied by policy: ${violations.map((v) => v.code).join(', ')}`
      : 'step allowed by policy',
  workflow: wf(w.id, w.runId),
  step,
  path: 'kubiya/main/decision',
  input: { step: { name: step, image } },
  result: {
    allow: violations.length === 0,
    revision,
    violations: violations.map((v) => ({ ...v, action: 'deny', path: 'step.image' })),
  },
  bundles: { kubiya: { revision } },
});

/** Replica A: an allowed run start to end (revision r1), two denials, a verify failure; revision r2 later. */
function chainA(): AuditEntry[] {
  const r = 'runner-a';
  const build = { id: 'build', runId: 'run-1' };
  const scan = { id: 'scan', runId: 'run-2' };
  return [
    {
      ...base(r, 0, 'a-1'),
      stage: 'verify',
      outcome: 'allow',
      message: 'token verified',
      workflow: wf('build', 'run-1'),
    },
    { ...base(r, 1, 'a-2'), stage: 'validate', outcome: 'allow', message: 'valid', workflow: wf('build', 'run-1') },
    { ...base(r, 2, 'a-3'), stage: 'claim', outcome: 'allow', message: 'accepted', workflow: wf('build', 'run-1') },
    evaluate(r, 3, 'a-4', build, 'compile', 'python:3.11', 'rev-1', []),
    {
      ...base(r, 4, 'a-5'),
      stage: 'mutate',
      outcome: 'allow',
      message: 'pod hardened to restricted',
      workflow: wf('build', 'run-1'),
      step: 'compile',
      patch: [{ op: 'add', path: '/spec/securityContext/runAsNonRoot', value: true }],
      pod: { name: 'workflow-run-1-step-compile', namespace: 'kubiya-workflows' },
      bundles: { kubiya: { revision: 'rev-1' } },
    },
    {
      ...base(r, 5, 'a-6'),
      stage: 'create',
      outcome: 'allow',
      message: 'pod created',
      workflow: wf('build', 'run-1'),
      step: 'compile',
      pod: { name: 'workflow-run-1-step-compile', namespace: 'kubiya-workflows' },
    },
    {
      ...base(r, 6, 'a-7'),
      stage: 'finish',
      outcome: 'success',
      message: 'step succeeded',
      workflow: wf('build', 'run-1'),
      step: 'compile',
      pod: { name: 'workflow-run-1-step-compile', namespace: 'kubiya-workflows', phase: 'Succeeded', exitCode: 0 },
    },
    evaluate(r, 10, 'a-8', scan, 'scan', 'aquasec/trivy:latest', 'rev-1', [
      { code: 'IMAGE_TAG_NOT_PINNED', policy: 'images', message: 'image "aquasec/trivy:latest" must name a version' },
    ]),
    {
      ...base(r, 20, 'a-9'),
      stage: 'verify',
      outcome: 'deny',
      code: 'VERIFY_KEY_NOT_FOUND',
      message: 'no trusted key matches the token',
    },
    evaluate(r, 30, 'a-10', { id: 'priv', runId: 'run-3' }, 'root', 'ghcr.io/acme/tool:1', 'rev-2', [
      { code: 'PRIVILEGED', policy: 'privilege', message: 'privileged containers are not allowed' },
      { code: 'IMAGE_REGISTRY_NOT_ALLOWED', policy: 'images', message: 'registry ghcr.io is not allowed' },
    ]),
  ];
}

/** Replica B: a policy error, and a denial whose every signer-chosen field is hostile. */
function chainB(): AuditEntry[] {
  const r = X.runner;
  return [
    {
      ...evaluate(r, 15, 'b-1', { id: 'etl', runId: 'run-9' }, 'load', 'python:3.11', 'rev-2', []),
      outcome: 'error',
      code: 'POLICY_EVAL_ERROR',
      message: 'policy evaluation failed',
      result: undefined,
    },
    evaluate(r, 40, X.decision, { id: X.workflow, runId: X.run }, X.step, X.image, X.revision, [
      { code: X.code, policy: X.policy, message: X.message },
    ]),
  ];
}

async function write(dir: string, entries: AuditEntry[], key?: ReturnType<typeof generateKeyPairSync>): Promise<void> {
  const log = await FileAuditLog.open(
    dir,
    key !== undefined
      ? { checkpoint: { key: key.privateKey, kid: keyId(key.publicKey), every: 1000, intervalMs: 3_600_000 } }
      : {},
  );
  for (const e of entries) await log.append(e);
  await log.close();
}

/** The DOM members the row reader uses (the tests compile without the DOM library). */
interface RowLike {
  readonly hidden: boolean;
  readonly cells: ArrayLike<{ readonly textContent: string | null }>;
}

/** The text of every cell of every row of a table body, as the auditor sees them. */
async function rows(page: Page, selector: string, visibleOnly = false): Promise<string[][]> {
  return page.$$eval(
    `${selector} tbody tr`,
    (trs, only) =>
      (trs as unknown as RowLike[])
        .filter((tr) => !only || !tr.hidden)
        .map((tr) => Array.from(tr.cells).map((c) => (c.textContent ?? '').trim())),
    visibleOnly,
  );
}

test('audit report: what an auditor reads, in Chromium, over three chains (one broken), with hostile strings everywhere', async () => {
  requireChromium();
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-report-'));
  try {
    const key = generateKeyPairSync('ed25519');
    const pub = join(dir, 'signer.pub.pem');
    await writeFile(pub, key.publicKey.export({ type: 'spki', format: 'pem' }));
    await write(join(dir, 'audit-0'), chainA(), key);
    await write(join(dir, 'audit-1'), chainB(), key);
    // Replica C: broken at seq 4 (its message altered); what follows the break must be nowhere on the page.
    const c: AuditEntry[] = [1, 2, 3, 4, 5, 6].map((i) => ({
      ...evaluate(
        'runner-c',
        50 + i,
        `c-${i}`,
        { id: 'later', runId: `run-c${i}` },
        's',
        'python:3.11',
        'rev-2',
        i >= 4 ? [{ code: `AFTER_BREAK_${i}`, policy: 'policy-after-break', message: 'never shown' }] : [],
      ),
    }));
    await write(join(dir, 'audit-2'), c, key);
    const seg = join(dir, 'audit-2', segmentName(1));
    await writeFile(
      seg,
      (await readFile(seg, 'utf8')).replace('step denied by policy: AFTER_BREAK_4', 'step allowed by policy!'),
    );

    const out = join(dir, 'report.html');
    const lines: string[] = [];
    const code = await main(
      [
        'audit',
        'report',
        join(dir, 'audit-0'),
        join(dir, 'audit-1'),
        join(dir, 'audit-2'),
        '--out',
        out,
        '--public-key',
        pub,
      ],
      { out: (l) => lines.push(l), err: (l) => lines.push(l), color: false },
      {},
    );
    assert.equal(code, 1, `a broken chain is exit 1\n${lines.join('\n')}`);
    const html = await readFile(out, 'utf8');
    assert.ok(
      !/AFTER_BREAK|policy-after-break|never shown/.test(html),
      `nothing from the break on is on the page: ${/.{80}(AFTER_BREAK|policy-after-break|never shown).{80}/s.exec(html)?.[0]}`,
    );
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    assert.ok(!/https?:\/\//i.test(html), 'no network reference at all');

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
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file://')) requests.push(r.url());
      });
      await page.goto(`file://${out}`);

      // The head: each chain's verification, the break marked, what was counted.
      assert.match(
        (await page.textContent('#verification-status')) ?? '',
        /^BROKEN at seq 4 \(.*audit-2\): 1 of 3 chain\(s\) broken/,
      );
      const banner = (await page.textContent('#broken-2')) ?? '';
      assert.match(banner, /audit-2 is BROKEN at seq 4: hash does not match/);
      assert.match(banner, /only the 3 record\(s\) before the break; the 3 line\(s\) from seq 4 on are not trusted/);
      const chains = await rows(page, '#chains');
      assert.equal(chains.length, 3);
      assert.match(
        chains[0]?.[1] ?? '',
        /^Intact: 10 records; 1 of 1 signed checkpoints verified, records 1\.\.10 covered$/,
      );
      assert.match(chains[2]?.[1] ?? '', /^BROKEN at seq 4/);
      assert.deepEqual(
        chains.map((r) => r[2]),
        ['10', '2', '3'],
        'records used per chain',
      );
      const summary = (await page.textContent('#summary')) ?? '';
      assert.match(summary, /Period2026-11-01T00:00:00\.000Z — 2026-11-01T00:53:00\.000Z/);
      assert.match(summary, /Records15/);
      assert.ok(summary.includes(X.runner), 'the runners, hostile one shown as text');

      // Policy revisions in force over time, in order of first use.
      assert.deepEqual(
        (await rows(page, '#revisions')).map((r) => [r[0], r[1], r[2], r[4], r[5]]),
        [
          ['rev-1', T(3), T(10), '2', '1'],
          ['rev-2', T(15), T(53), '5', '1'],
          [X.revision, T(40), T(40), '1', '1'],
        ],
      );

      // Every denial and error, once each, with its values.
      const refusals = await rows(page, '#refusals');
      assert.deepEqual(
        refusals.map((r) => [r[0], r[2], r[3], r[4], r[5], r[6], r[8], r[9]]),
        [
          [T(10), 'runner-a', 'deny', 'scan / run-2', 'evaluate / scan', 'aquasec/trivy:latest', 'rev-1', 'a-8'],
          [T(15), X.runner, 'error', 'etl / run-9', 'evaluate / load', 'python:3.11', 'rev-2', 'b-1'],
          [T(20), 'runner-a', 'deny', '(before verification)', 'verify', '', '', 'a-9'],
          [T(30), 'runner-a', 'deny', 'priv / run-3', 'evaluate / root', 'ghcr.io/acme/tool:1', 'rev-2', 'a-10'],
          [
            T(40),
            X.runner,
            'deny',
            `${X.workflow} / ${X.run}`,
            `evaluate / ${X.step}`,
            X.image,
            X.revision,
            X.decision,
          ],
        ],
      );
      assert.match(refusals[3]?.[7] ?? '', /PRIVILEGED \(privilege, deny\) privileged containers are not allowed/);
      assert.match(
        refusals[3]?.[7] ?? '',
        /IMAGE_REGISTRY_NOT_ALLOWED \(images, deny\) registry ghcr\.io is not allowed/,
      );
      assert.ok(
        (refusals[4]?.[7] ?? '').includes(`${X.code} (${X.policy}, deny) ${X.message}`),
        'hostile strings shown as text',
      );

      // Sorting: by decision id, then reversed; filtering by a reason.
      await page.click('#refusals thead th:nth-child(10) button');
      assert.deepEqual(
        (await rows(page, '#refusals')).map((r) => r[9]),
        [X.decision, 'a-8', 'a-9', 'a-10', 'b-1'],
      );
      await page.click('#refusals thead th:nth-child(10) button');
      assert.deepEqual(
        (await rows(page, '#refusals')).map((r) => r[9]),
        ['b-1', 'a-10', 'a-9', 'a-8', X.decision],
      );
      await page.fill('#refusals-filter', 'privileged');
      assert.deepEqual(
        (await rows(page, '#refusals', true)).map((r) => r[9]),
        ['a-10'],
      );
      assert.equal(await page.textContent('#refusals-shown'), '1 of 5 shown');
      await page.fill('#refusals-filter', '');
      assert.equal((await rows(page, '#refusals', true)).length, 5);

      // Reasons: a denial counted once (POLICY_DENIED is not a reason of its own), per policy.
      const reasonLabels = await page.locator('#deny-codes title').allTextContents();
      assert.ok(!reasonLabels.some((l) => l?.startsWith('POLICY_DENIED')), reasonLabels.join(', '));
      assert.ok(reasonLabels.includes('IMAGE_TAG_NOT_PINNED: 1') && reasonLabels.includes('PRIVILEGED: 1'));
      assert.equal(
        reasonLabels.length,
        6,
        'IMAGE_TAG_NOT_PINNED, PRIVILEGED, IMAGE_REGISTRY_NOT_ALLOWED, VERIFY_KEY_NOT_FOUND, POLICY_EVAL_ERROR, the hostile code',
      );
      const reasons = (await page.textContent('#reasons')) ?? '';
      assert.match(
        reasons,
        /imagesreasonrefusalsfor exampleIMAGE_REGISTRY_NOT_ALLOWED1registry ghcr\.io is not allowedIMAGE_TAG_NOT_PINNED1/,
      );
      assert.match(reasons, /stage verifyreasonrefusalsfor exampleVERIFY_KEY_NOT_FOUND1/);

      // Drill-down: the allowed run, step by step, with its patch; reached from a denial's link too.
      const run = page.locator('details.run', { hasText: 'build' }).first();
      await run.locator('summary').click();
      const stages = await run.locator('ol.steps > li > b').allTextContents();
      assert.deepEqual(stages, ['verify', 'validate', 'claim', 'evaluate', 'mutate', 'create', 'finish']);
      assert.match(
        (await run.locator('pre.patch').textContent()) ?? '',
        /"path": "\/spec\/securityContext\/runAsNonRoot"/,
      );
      assert.match((await run.textContent()) ?? '', /phase Succeeded, exit code 0/);
      await page.click('#refusals tbody tr:has-text("priv / run-3") a');
      // The link opens the run it points at.
      await page.locator('details.run[open]', { hasText: 'priv / run-3' }).waitFor({ timeout: 5000 });

      // Hostile strings: nothing ran, nothing was loaded, the only script is the page's own.
      assert.equal(await page.locator('script').count(), 1);
      assert.equal(await page.locator('img, iframe, [onerror], [onload], [onmouseover]').count(), 0);
      assert.equal(await page.locator('body').isVisible(), true, 'an injected style did not hide the page');
      assert.deepEqual(requests, []);

      await page.emulateMedia({ media: 'print' });
      assert.equal(await page.locator('#refusals-filter').isVisible(), false, 'controls are not printed');
      const pdf = join(dir, 'report.pdf');
      await page.pdf({ path: pdf });
      assert.ok((await stat(pdf)).size > 10_000, 'printable to PDF');
      assert.deepEqual(problems, [], 'no console errors, no injected script ran');
    } finally {
      await browser.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
