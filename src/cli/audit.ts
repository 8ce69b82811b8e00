import { Command } from 'commander';
import { readAuditLog } from '../adapters/audit-file.ts';
import { firstBroken } from '../audit/chain.ts';
import { CliError, EXIT, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';

export function auditCommands(io: Io, setCode: (c: number) => void): Command {
  const audit = new Command('audit').description('read and verify the audit log');
  audit
    .command('verify <dir>')
    .description('check the hash chain of an audit directory; names the first bad record')
    .addOption(outputOption())
    .addHelpText('after', examples('kubiya-runner audit verify /var/lib/kubiya/audit', 'kubiya-runner audit verify .kubiya/demo/audit --output json'))
    .action(async (dir: string, opts: { output: string }) => {
      const records = await readAuditLog(dir).catch((e: unknown) => {
        throw new CliError('AUDIT_READ_FAILED', `cannot read the audit log in ${dir}: ${e instanceof Error ? e.message : String(e)}`);
      });
      // Progress on stderr for large logs, on a terminal only.
      const broken = firstBroken(records, undefined, undefined, io.color ? (done) => io.err(`verified ${done} of ${records.length} records ...`) : undefined);
      const result = broken === -1 ? { ok: true, records: records.length } : { ok: false, records: records.length, firstBadSeq: broken + 1 };
      io.out(opts.output === 'json' ? JSON.stringify(result) : result.ok ? `ok: ${records.length} records, chain intact` : `BROKEN: first bad record is seq ${broken + 1}`);
      setCode(result.ok ? EXIT.ok : EXIT.failed);
    });
  return audit;
}
