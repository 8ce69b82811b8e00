import { Option } from 'commander';

/** `--output text|json` for every command whose output is data. */
export const outputOption = (): Option =>
  new Option('--output <format>', 'output format').choices(['text', 'json']).default('text');

export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n\nExit codes: 0 ok, 1 the check failed, 2 usage or environment error (see docs/cli.md).`;
}
