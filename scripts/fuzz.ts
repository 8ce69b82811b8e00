// npm run fuzz [-- --runs N]: the long fuzz run (default 50,000 mutated tokens + 50,000 hostile signed specs).
import { createLocalJWKSet } from 'jose';
import { jwks, newSigningKey } from '../src/dev/sign.ts';
import { fuzz } from '../test/support/fuzz.ts';

const i = process.argv.indexOf('--runs');
const runs = i > 0 ? Number(process.argv[i + 1]) : 50_000;
const key = await newSigningKey('EdDSA', 'k1');
const t0 = Date.now();
const out = await fuzz(runs, key, createLocalJWKSet(jwks([key])));
console.log(JSON.stringify({ ...out, badPods: out.badPods.slice(0, 5), seconds: (Date.now() - t0) / 1000 }, null, 2));
process.exitCode = out.crashed + out.internal + out.podsFromRejections + out.uncoded + out.badPods.length === 0 ? 0 : 1;
