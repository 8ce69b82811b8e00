/**
 * JUnit XML (the de-facto schema CI systems read: testsuites > testsuite > testcase, with a
 * <failure> child for a failed case) for `policy test --junit`: one suite for the Rego unit tests,
 * one for the fixture suites.
 */
export interface JUnitCase {
  readonly classname: string;
  readonly name: string;
  readonly seconds?: number;
  /** The failure's message; undefined when the case passed. */
  readonly failure?: string;
}

export interface JUnitSuite {
  readonly name: string;
  readonly cases: readonly JUnitCase[];
}

const escape = (s: string): string =>
  s
    // characters XML 1.0 cannot carry at all
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** The XML document for the suites. */
export function junitXml(suites: readonly JUnitSuite[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const total = suites.reduce((n, s) => n + s.cases.length, 0);
  const failed = suites.reduce((n, s) => n + s.cases.filter((c) => c.failure !== undefined).length, 0);
  lines.push(`<testsuites name="kubiya-runner policy test" tests="${total}" failures="${failed}">`);
  for (const s of suites) {
    const f = s.cases.filter((c) => c.failure !== undefined).length;
    lines.push(`  <testsuite name="${escape(s.name)}" tests="${s.cases.length}" failures="${f}" errors="0">`);
    for (const c of s.cases) {
      const head = `    <testcase classname="${escape(c.classname)}" name="${escape(c.name)}" time="${(c.seconds ?? 0).toFixed(3)}"`;
      if (c.failure === undefined) lines.push(`${head}/>`);
      else
        lines.push(
          `${head}>`,
          `      <failure message="${escape(c.failure.split('\n')[0] ?? '')}">${escape(c.failure)}</failure>`,
          '    </testcase>',
        );
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
