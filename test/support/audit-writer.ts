// Writes audit records as fast as it can and prints each acknowledged seq (for the kill -9 test).
import { FileAuditLog } from '../../src/adapters/audit-file.ts';

const log = await FileAuditLog.open(process.argv[2] as string, { segmentBytes: 256 * 1024 });
for (let i = 0; ; i++) {
  const batch = Array.from({ length: 50 }, (_, j) =>
    log
      .append({
        decision_id: `d-${i}-${j}`,
        timestamp: new Date().toISOString(),
        stage: 'evaluate',
        outcome: 'allow',
        message: 'x'.repeat(200),
        runner: 'r',
        labels: { runner: 'r' },
      })
      .then((r) => process.stdout.write(`${r.seq}\n`)),
  );
  await Promise.all(batch);
}
