// Runs one CLI command in this process and prints its peak memory (the readers' memory tests):
//   node [--max-old-space-size=…] test/support/reader-rss.ts <cli args…>
// stdout is the command's own; the last line on stderr is `maxrss <kB>` (getrusage's ru_maxrss).
import { main } from '../../src/cli/main.ts';

const code = await main(
  process.argv.slice(2),
  {
    out: (l) => void process.stdout.write(`${l}\n`),
    err: (l) => void process.stderr.write(`${l}\n`),
    color: false,
  },
  {},
);
process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\n`);
process.exitCode = code;
