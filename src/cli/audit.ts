import { Command } from 'commander';
import { readAuditLog } from '../adapters/audit-file.ts';
import { firstBroken } from '../audit/chain.ts';
import { EXIT, type Io } from './io.ts';

export function auditCommands(io: Io, setCode: (c: number) => void): Command {
  const audit = new Command('audit').description('read and verify the audit log');
  audit
    .command('verify <dir>')
    .description('check the hash chain of an audit directory; names the first bad record')
    .option('--output <format>', 'text or json', 'text')
    .action(async (dir: string, opts: { output: string }) => {
      const records = await readAuditLog(dir);
      const broken = firstBroken(records);
      const result = broken === -1 ? { ok: true, records: records.length } : { ok: false, records: records.length, firstBadSeq: broken + 1 };
      io.out(opts.output === 'json' ? JSON.stringify(result) : result.ok ? `ok: ${records.length} records, chain intact` : `BROKEN: first bad record is seq ${broken + 1}`);
      setCode(result.ok ? EXIT.ok : EXIT.failed);
    });
  return audit;
}
