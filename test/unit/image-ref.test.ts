import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { entryMatches, parseImageEntry, parseImageRef } from '../../src/oci/image-ref.ts';
import { BAD_ENTRIES, ENTRY_CASES, REF_CASES } from '../support/image-refs.ts';

// The same tables run through the compiled Rego in test/policies/image-ref.test.ts.
test(`image references: ${REF_CASES.length} spellings parse (or are refused) by the distribution grammar`, () => {
  for (const c of REF_CASES) {
    const r = parseImageRef(c.ref);
    if (c.canonical === null) {
      assert.equal(r.ok, false, `${JSON.stringify(c.ref)} must be refused`);
      continue;
    }
    assert.ok(r.ok, `${JSON.stringify(c.ref)}: ${!r.ok ? r.reason : ''}`);
    assert.equal(r.ref.canonical, c.canonical, c.ref);
    for (const k of ['registry', 'repository', 'tag', 'digest'] as const)
      if (c[k] !== undefined) assert.equal(r.ref[k], c[k], `${c.ref} ${k}`);
    // The canonical form is a fixed point.
    const again = parseImageRef(r.ref.canonical);
    assert.ok(again.ok && again.ref.canonical === r.ref.canonical, `canonical of ${c.ref} is stable`);
  }
});

test('allow/deny entries match on path boundaries, through every spelling of the reference', () => {
  for (const c of ENTRY_CASES) {
    const entry = parseImageEntry(c.entry);
    assert.ok(entry, c.entry);
    for (const ref of c.covers) {
      const r = parseImageRef(ref);
      assert.ok(r.ok && entryMatches(entry, r.ref), `${c.entry} covers ${ref}`);
    }
    for (const ref of c.misses) {
      const r = parseImageRef(ref);
      assert.ok(r.ok && !entryMatches(entry, r.ref), `${c.entry} does not cover ${ref}`);
    }
  }
  for (const e of BAD_ENTRIES) assert.equal(parseImageEntry(e), undefined, `${JSON.stringify(e)} is not an entry`);
});

test('property: the parser never throws, is fast on long hostile strings, and what it accepts is stable and lower-case in registry and repository', () => {
  const alphabet = fc.constantFrom(...'aZ09.-_:/@'.split(''), 'sha256:', 'library/', 'docker.io/', '..', '__');
  fc.assert(
    fc.property(
      fc.array(alphabet, { maxLength: 80 }).map((a) => a.join('')),
      (s) => {
        const r = parseImageRef(s);
        if (!r.ok) return;
        assert.equal(r.ref.registry, r.ref.registry.toLowerCase());
        assert.equal(r.ref.repository, r.ref.repository.toLowerCase());
        const again = parseImageRef(r.ref.canonical);
        assert.ok(again.ok && again.ref.canonical === r.ref.canonical);
      },
    ),
    { numRuns: 3000 },
  );
  const started = performance.now();
  for (const s of ['a'.repeat(1000) + '!', 'a-'.repeat(500) + '!', 'a.'.repeat(500) + '/!', `${'a/'.repeat(500)}!`])
    parseImageRef(s);
  assert.ok(performance.now() - started < 500, 'linear enough on hostile input');
});
