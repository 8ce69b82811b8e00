import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveTools } from '../../src/adapters/tools.ts';

test('missing tools are named, with the command that builds them (no stack trace)', () => {
  const r = resolveTools(['kube-apiserver', 'kwok'], '/nonexistent/tools/bin');
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, 'TOOLS_MISSING');
    assert.match(r.error.message, /kube-apiserver, kwok/);
    assert.match(r.error.message, /npm run tools/);
  }
});
